#!/usr/bin/env bash
# The systolic sweep (docs/systolic.md): trains bench/gcide_small.lstm (bytes, embed 64, lstm 256 and 64, tied)
# with `lstmc train` on Debian's dict-gcide for SECONDS, then runs `lstmc sweep` on the trained weights:
# prune, column-combine at each alpha and gamma, conflict-prune, quantize to 8 bits, and evaluate as the
# systolic array computes it on each array size — BPC on held-out text against cycles per token.
#
#   bench/systolic_sweep.sh [BUILD] [SECONDS]        (default build, 300 s of training)
#
# Settings by environment: ALPHAS (1,2,4,8,16), GAMMAS (0.1,0.25,0.5), ARRAYS (16x16,32x32,64x64),
# SPARSITY (0.5), THREADS (training, 2), EVAL_BYTES (held-out bytes evaluated, 20000).
# Writes $BUILD/bench-systolic-sweep/{weights.safetensors, train.csv, sweep.csv, sweep.svg, sweep.png} and
# prints the trained model's line, then the sweep's rows as one JSON array.
set -euo pipefail
build=${1:-build}
seconds=${2:-300}
here=$(cd "$(dirname "$0")" && pwd)
lstmc="$build/lstmc"
out="$build/bench-systolic-sweep"
mkdir -p "$out"
bt=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
case $bt in Release | RelWithDebInfo) ;; *) echo "$0: warning: $build is a '${bt:-unset}' build; configure it with -DCMAKE_BUILD_TYPE=Release (what make build does)" >&2 ;; esac
if [ ! -f "$out/train.txt" ]; then
  (zcat /usr/share/dictd/gcide.dict.dz || true) | head -c 4000000 > "$out/all.txt"
  head -c 3600000 "$out/all.txt" > "$out/train.txt"
  tail -c 400000 "$out/all.txt" > "$out/valid.txt"
fi
head -c "${EVAL_BYTES:-20000}" "$out/valid.txt" > "$out/eval.txt"
spec="$here/gcide_small.lstm"
"$lstmc" train "$spec" --data "$out/train.txt" --valid "$out/valid.txt" --threads "${THREADS:-2}" --epochs 1000 \
  --max-seconds "$seconds" --log "$out/train.csv" -o "$out/weights.safetensors" 2> "$out/train.err"
grep "lstmc: wrote" "$out/train.err" | tail -1 || true
printf '{"dense_bpc_on_eval_text": %s}\n' "$("$lstmc" eval "$spec" --weights "$out/weights.safetensors" --data "$out/eval.txt" --passes '' | sed 's/bpc: //')"
"$lstmc" sweep "$spec" --weights "$out/weights.safetensors" --data "$out/eval.txt" \
  --alphas "${ALPHAS:-1,2,4,8,16}" --gammas "${GAMMAS:-0.1,0.25,0.5}" --arrays "${ARRAYS:-16x16,32x32,64x64}" \
  --sparsity "${SPARSITY:-0.5}" --csv "$out/sweep.csv" --plot "$out/sweep.svg" --json --quiet
"$lstmc" sweep "$spec" --weights "$out/weights.safetensors" --data "$out/eval.txt" \
  --alphas "${ALPHAS:-1,2,4,8,16}" --gammas "${GAMMAS:-0.1,0.25,0.5}" --arrays "${ARRAYS:-16x16,32x32,64x64}" \
  --sparsity "${SPARSITY:-0.5}" --plot "$out/sweep.png" --quiet > "$out/sweep.md"
echo "wrote $out/sweep.csv, sweep.svg, sweep.png, sweep.md" >&2
