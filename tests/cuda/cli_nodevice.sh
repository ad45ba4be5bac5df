#!/bin/sh
# `--target cuda` where there is no CUDA driver: one clear error line and exit status 1, for eval,
# generate and train. LSTMC_CUDA_DRIVER names a library that does not exist, so this holds on GPU machines too; where
# libcuda.so.1 is really absent the plain run must say so as well.
# usage: cli_nodevice.sh LSTMC SOURCE_DIR TMPDIR
lstmc=$1 src=$2 tmp=$3
g=$src/tests/golden/bytes_tied2
fails=0
expect() { # name, wanted text, command...
  name=$1 want=$2
  shift 2
  "$@" >"$tmp/nodev.out" 2>"$tmp/nodev.err"
  rc=$?
  if [ $rc -ne 1 ] || ! grep -q "^lstmc: error: $want" "$tmp/nodev.err" || [ "$(wc -l <"$tmp/nodev.err")" -ne 1 ]; then
    echo "FAIL: $name: exit $rc, stderr:"; cat "$tmp/nodev.err"; fails=$((fails + 1))
  else
    echo "ok: $name: $(cat "$tmp/nodev.err")"
  fi
}
LSTMC_CUDA_DRIVER=/nonexistent/libcuda.so.1 expect eval "no CUDA driver (libcuda.so.1 not found" \
  "$lstmc" eval "$g/model.lstm" --weights "$g/weights.safetensors" --data "$g/text.txt" --target cuda
LSTMC_CUDA_DRIVER=/nonexistent/libcuda.so.1 expect generate "no CUDA driver (libcuda.so.1 not found" \
  "$lstmc" generate "$g/model.lstm" --weights "$g/weights.safetensors" --length 5 --target cuda
LSTMC_CUDA_DRIVER=/nonexistent/libcuda.so.1 expect train "no CUDA driver (libcuda.so.1 not found" \
  "$lstmc" train "$g/model.lstm" --data "$g/text.txt" -o "$tmp/nodev.safetensors" --target cuda --quiet
[ ! -e "$tmp/nodev.safetensors" ] || { echo "FAIL: train wrote weights without a device"; fails=$((fails + 1)); }
if ! ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1 '; then
  expect eval-plain "no CUDA driver (libcuda.so.1 not found" \
    "$lstmc" eval "$g/model.lstm" --weights "$g/weights.safetensors" --data "$g/text.txt" --target cuda
fi
[ $fails -eq 0 ]
