#!/usr/bin/env bash
# Checks the Debian packages lstmc needs to build, test and run its demo; installs the missing ones when run
# as root, otherwise prints the exact apt-get line and fails.
#   tools/deps.sh build   — compiler, CMake, Flex, Bison, LLVM 14, libpng
#   tools/deps.sh demo    — build + the default corpus (fortunes)
#   tools/deps.sh test    — build + what the test suite uses (clang's sanitizer runtime, fortunes)
set -euo pipefail
what=${1:-build}
pkgs=(gcc make cmake flex bison llvm-14-dev libpng-dev zlib1g-dev)
case "$what" in
  build) ;;
  demo) pkgs+=(fortunes) ;;
  test) pkgs+=(fortunes clang-14 libclang-rt-14-dev) ;;
  fuzz) pkgs+=(clang-14 libclang-rt-14-dev) ;;
  *) echo "deps.sh: unknown set '$what' (build|demo|test|fuzz)" >&2; exit 2 ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "deps.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "deps.sh: missing packages; run:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
