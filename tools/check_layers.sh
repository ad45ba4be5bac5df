#!/usr/bin/env bash
# The layering check (run by `make test`): every #include in the core points down the stack or sideways,
# never up. Layers, low to high:
#   support → ir → frontend → passes → runtime → codegen → train → api → tools
# and besides:
#   - a backend folder codegen/X includes nothing of another backend codegen/Y (codegen/*.h is shared);
#   - api/internal.h (the structs behind the public handles) is for api/ alone;
#   - tools/ (the CLI) sees only the public header(s) in include/, its own files and support/.
# tests/, bench/ and fuzz/ test internals and are not checked. Prints each violation as
# FILE:LINE: LAYER includes "PATH" (LAYER2) and exits 1 when there is any.
set -euo pipefail
root="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
cd "$root"

level() {
  case "$1" in
    support) echo 0 ;; ir) echo 1 ;; frontend) echo 2 ;; passes) echo 3 ;; runtime) echo 4 ;;
    codegen) echo 5 ;; train) echo 6 ;; api) echo 7 ;; tools) echo 8 ;; *) echo -1 ;;
  esac
}

# Known exceptions being removed, one "FILE PATH" per line (tools/layering.allow); it should be empty.
allow=""
[[ -f tools/layering.allow ]] && allow=$(grep -v '^#' tools/layering.allow || true)

bad=0
report() {
  local key="$file $path"
  if grep -qxF -- "$key" <<<"$allow"; then return; fi
  echo "$1" >&2
  bad=$((bad + 1))
}

while IFS= read -r file; do
  dir=${file%%/*}
  lf=$(level "$dir")
  sub=""
  [[ $dir == codegen && $file == codegen/*/* ]] && sub=$(echo "$file" | cut -d/ -f2)
  while IFS=: read -r lineno inc; do
    path=$(sed -E 's/.*#[[:space:]]*include[[:space:]]*"([^"]*)".*/\1/' <<<"$inc")
    [[ $path == lstmc*.h ]] && continue          # the public headers (include/)
    [[ $path != */* ]] && continue               # this folder's own files, generated parser/lexer headers
    top=${path%%/*}
    if [[ $dir == tools ]]; then
      [[ $top == tools || $top == support ]] || report "$file:$lineno: tools includes \"$path\": the CLI uses the public API (include/) and support/ only"
      continue
    fi
    lp=$(level "$top")
    if ((lp < 0)); then
      report "$file:$lineno: $dir includes \"$path\", which is outside the core's layers"
    elif ((lp > lf)); then
      report "$file:$lineno: $dir includes \"$path\" ($top is above $dir)"
    fi
    if [[ $path == api/internal.h && $dir != api ]]; then
      report "$file:$lineno: $dir includes \"$path\", which is private to api/"
    fi
    if [[ -n $sub && $top == codegen && $path == codegen/*/* ]]; then
      psub=$(echo "$path" | cut -d/ -f2)
      [[ $psub != "$sub" ]] && report "$file:$lineno: backend codegen/$sub includes \"$path\" of another backend"
    fi
  done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" || true)
done < <(find support ir frontend passes runtime codegen train api tools -type f \
           \( -name '*.c' -o -name '*.h' -o -name '*.def' -o -name '*.l' -o -name '*.y' \) | sort)

if ((bad)); then
  echo "layering check: $bad upward include(s); see the layers at the top of tools/check_layers.sh" >&2
  exit 1
fi
echo "layering check: no upward include"
