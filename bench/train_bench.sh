#!/usr/bin/env bash
# Training benchmarks (docs/train.md): lstmc train against the PyTorch peer (bench/train_pytorch.py) with
# the same spec, data, batch, bptt and threads, on a few MB of Debian's dict-gcide.
#
#   bench/train_bench.sh throughput [BUILD]   chars/s of both on bench/gcide2.lstm, 1 and 2 threads
#   bench/train_bench.sh budget [BUILD] [S]   both trained for S seconds (default 600), validation BPC
#   bench/train_bench.sh steps [BUILD] [N]    both trained for N steps of bench/gcide_small.lstm (default 150)
#
# THREADS (default 2) sets the threads of the budget and steps runs.
# Data: the first 4,000,000 bytes of `zcat /usr/share/dictd/gcide.dict.dz`, 90% train, 10% valid (written
# to $BUILD/bench-train/). Results are printed as lines of JSON.
set -euo pipefail
mode=${1:-throughput}
build=${2:-build}
here=$(cd "$(dirname "$0")" && pwd)
lstmc="$build/lstmc"
out="$build/bench-train"
mkdir -p "$out"
if [ ! -f "$out/train.txt" ]; then
  (zcat /usr/share/dictd/gcide.dict.dz || true) | head -c 4000000 > "$out/all.txt"
  head -c 3600000 "$out/all.txt" > "$out/train.txt"
  tail -c 400000 "$out/all.txt" > "$out/valid.txt"
  head -c 40000 "$out/valid.txt" > "$out/valid40k.txt"
fi

lstmc_run() { # spec threads extra-args... → one JSON line
  local spec=$1 threads=$2
  shift 2
  local log="$out/lstmc-$(basename "$spec" .lstm)-$threads.err"
  "$lstmc" train "$spec" --data "$out/train.txt" --threads "$threads" -o "$out/lstmc.safetensors" "$@" 2> "$log"
  local line
  line=$(grep "lstmc: wrote" "$log" | tail -1)
  local bpc rate steps secs
  bpc=$(sed -n 's/.*valid bpc \([0-9.]*\)).*/\1/p' <<< "$line")
  steps=$(sed -n 's/.* after \([0-9]*\) steps.*/\1/p' <<< "$line")
  rate=$(sed -n 's/.*training at \([0-9]*\) chars\/s.*/\1/p' <<< "$line")
  printf '{"engine": "lstmc", "spec": "%s", "threads": %s, "steps": %s, "tokens_per_s": %s, "valid_bpc": %s}\n' \
    "$(basename "$spec")" "$threads" "$steps" "$rate" "$bpc"
}

torch_run() { # spec threads extra-args...
  local spec=$1 threads=$2
  shift 2
  printf '{"engine": "pytorch", "spec": "%s", ' "$(basename "$spec")"
  /usr/bin/python3 "$here/train_pytorch.py" "$spec" --data "$out/train.txt" --threads "$threads" "$@" | sed 's/^{//'
}

case $mode in
throughput)
  for t in 1 2; do
    lstmc_run "$here/gcide2.lstm" $t --valid "$out/valid40k.txt" --max-steps 40
    torch_run "$here/gcide2.lstm" $t --valid "$out/valid40k.txt" --max-steps 4
  done
  ;;
budget)
  s=${3:-600}
  lstmc_run "$here/gcide2.lstm" "${THREADS:-2}" --valid "$out/valid.txt" --max-seconds "$s" --epochs 100 --log "$out/lstmc-budget.csv"
  torch_run "$here/gcide2.lstm" "${THREADS:-2}" --valid "$out/valid.txt" --max-seconds "$s" --epochs 100
  ;;
steps)
  n=${3:-150}
  lstmc_run "$here/gcide_small.lstm" "${THREADS:-2}" --valid "$out/valid.txt" --max-steps "$n"
  torch_run "$here/gcide_small.lstm" "${THREADS:-2}" --valid "$out/valid.txt" --max-steps "$n"
  ;;
*)
  echo "usage: $0 throughput|budget|steps [BUILD] [N]" >&2
  exit 2
  ;;
esac
