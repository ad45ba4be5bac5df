#!/usr/bin/env bash
# Simulation speed of the systolic target (docs/systolic.md): the PTB-char shape (examples/charptb.lstm, 13.8M
# parameters, random weights from `lstmc init`) after its pipeline
# prune{sparsity=0.8},column-combine{alpha=8,gamma=0.5},conflict-prune,quantize{bits=8} on a 32x32 array, one
# core (taskset when there is one), scoring a stream of random tokens and stepping generation. The cycle counts
# come from the tile model; the arithmetic runs the SIMD kernel where it applies.
#
#   bench/systolic_bench.sh [BUILD] [TOKENS]     (default build, 2000 tokens per scoring repetition)
#
# Prints one JSON line per mode: lstmc bench's object (with the systolic report under "systolic") plus the
# target of 1000 tokens/s and whether it is met.
set -euo pipefail
build=${1:-build}
tokens=${2:-2000}
here=$(cd "$(dirname "$0")" && pwd)
lstmc="$build/lstmc"
out="$build/bench-systolic"
mkdir -p "$out"
bt=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
case $bt in Release | RelWithDebInfo) ;; *) echo "$0: warning: $build is a '${bt:-unset}' build; configure it with -DCMAKE_BUILD_TYPE=Release (what make build does) before timing" >&2 ;; esac
spec="$here/../examples/charptb.lstm"
if [ ! -f "$out/charptb.safetensors" ]; then
  # a chars vocabulary of PTB-char's size order from Debian's fortunes (the shape is what is timed)
  head -c 300000 /usr/share/games/fortunes/fortunes > "$out/vocab.txt"
  "$lstmc" init "$spec" --vocab-from "$out/vocab.txt" --seed 1 -o "$out/charptb.safetensors" 2> /dev/null
fi
one_core=()
command -v taskset > /dev/null && one_core=(taskset -c 0)
for mode in score gen; do
  args=(--mode "$mode" --seconds 3)
  [ "$mode" = score ] && args+=(--tokens "$tokens" --reps 3)
  line=$("${one_core[@]}" "$lstmc" bench "$spec" --weights "$out/charptb.safetensors" --target systolic --array 32x32 \
         --threads 1 "${args[@]}" --json)
  tps=$(sed -n 's/.*"tokens_per_s": \([0-9.]*\).*/\1/p' <<< "$line")
  meets=$(awk -v t="$tps" 'BEGIN { print (t >= 1000) ? "true" : "false" }')
  printf '%s, "target_tokens_per_s": 1000, "meets_target": %s}\n' "${line%\}}" "$meets"
done
