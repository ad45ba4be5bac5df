#!/usr/bin/env bash
# The CPU benchmark of issue 5 in one run: PTB-char (examples/charptb.lstm, 50-character vocabulary,
# random weights from `lstmc init`), dense fp32 and after
# prune{sparsity=0.875},column-combine{alpha=8,gamma=0.5},conflict-prune,quantize{bits=8}, on lstmc's CPU
# backend, the reference executor and, when /usr/bin/python3 has torch, PyTorch's nn.LSTM on the same
# shapes and weights; plus the time of `lstmc compile`. Prints a markdown table; the raw CSV and the table
# are left in $OUT.
#
#   bench/run.sh [BUILD]        (BUILD: the CMake build folder, default build; OUT default BUILD/bench-out)
#   SECONDS_PER=2               timed seconds per measurement
set -euo pipefail
build=${1:-build}
out=${OUT:-$build/bench-out}
secs=${SECONDS_PER:-2}
lstmc=$build/lstmc
spec=examples/charptb.lstm
mkdir -p "$out"
bt=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
case $bt in Release | RelWithDebInfo) ;; *) echo "$0: warning: $build is a '${bt:-unset}' build; configure it with -DCMAKE_BUILD_TYPE=Release (what make build does) before timing" >&2 ;; esac
[ -x "$lstmc" ] || { echo "bench/run.sh: build first (cmake --build $build)" >&2; exit 1; }
sparse='prune{sparsity=0.875},column-combine{alpha=8,gamma=0.5},conflict-prune,quantize{bits=8}'

printf "abcdefghijklmnopqrstuvwxyz0123456789 .,'-&\$#*/\\\\<>\n" > "$out/vocab.txt" # 50 characters, as PTB's
"$lstmc" init $spec --vocab-from "$out/vocab.txt" --seed 1 -o "$out/weights.safetensors" 2>/dev/null

csv=$out/results.csv
echo "weights,model,target,executor,mode,batch,threads,reps,median_us,p90_us,p99_us,us_per_token,tokens_per_s,step_bytes,gb_per_s" > "$csv"
pipeline() { [ "$1" = dense_f32 ] && echo "" || echo "$sparse"; } # the weights' label -> --passes
bench() { # LABEL ARGS...
  local w=$1
  shift
  echo "$w,$("$lstmc" bench $spec --weights "$out/weights.safetensors" --passes "$(pipeline $w)" --seconds "$secs" -o csv "$@" | tail -n 1)" >> "$csv"
}
torch() { # ARGS...
  echo "dense_f32,$(/usr/bin/python3 bench/torch_lstm.py "$out/weights.safetensors" --model charptb --seconds "$secs" "$@")" >> "$csv"
}

bench dense_f32 --target ref --reps 20
for w in dense_f32 pruned_cc_q8; do
  bench $w --target cpu --threads 1
  bench $w --target cpu --threads 2
  bench $w --target cpu --threads 0
  bench $w --target cpu --threads 2 --batch 4
  bench $w --target cpu --threads 1 --mode score
  bench $w --target cpu --threads 2 --mode score
done
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  for t in 1 2; do
    torch --threads $t
    torch --threads $t --mode score --tokens 256 --reps 2
  done
else
  echo "bench/run.sh: /usr/bin/python3 has no torch; PyTorch rows skipped" >&2
fi

compile_ms() { # LABEL: milliseconds of `lstmc compile` (best of 3), loading the weights and the passes included
  local best=
  for i in 1 2 3; do
    local t0 t1
    t0=$(date +%s%N)
    "$lstmc" compile $spec --weights "$out/weights.safetensors" --passes "$(pipeline $1)" --target cpu -o "$out/$1.o" --header "$out/$1.h"
    t1=$(date +%s%N)
    local ms=$(((t1 - t0) / 1000000))
    if [ -z "$best" ] || [ $ms -lt $best ]; then best=$ms; fi
  done
  echo $best
}

{
  echo "PTB-char ($spec), $(date -u '+%Y-%m-%d %H:%M UTC'), $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores,"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); per-token times of one stream unless batch > 1 (then per step of all streams)"
  echo
  echo "| weights | executor | mode | batch | threads | median µs | p90 µs | p99 µs | tokens/s | GB/s |"
  echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  tail -n +2 "$csv" | awk -F, '{ printf "| %s | %s | %s | %s | %s | %.1f | %.1f | %.1f | %.0f | %.1f |\n", $1, $4, $5, $6, $7 == "all" ? "auto" : $7, $9, $10, $11, $13, $15 }'
  echo
  echo "lstmc compile (weights loaded, pipeline run, repacked, compiled, written): dense_f32 $(compile_ms dense_f32) ms, pruned_cc_q8 $(compile_ms pruned_cc_q8) ms (best of 3)"
} | tee "$out/results.md"
