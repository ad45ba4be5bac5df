#!/usr/bin/env bash
# Training benchmarks (docs/train.md): lstmc train against the PyTorch peer (bench/train_pytorch.py) with
# the same spec, data, batch, bptt and threads, on a few MB of Debian's dict-gcide.
#
#   bench/train_bench.sh throughput [BUILD]   chars/s of both on bench/gcide2.lstm, 1 and 2 threads
#   bench/train_bench.sh budget [BUILD] [S]   both trained for S seconds (default 600), validation BPC; then
#                                             the `cc` runs
#   bench/train_bench.sh cc [BUILD] [S]       from lstmc's budget weights: bench/gcide2_cc.lstm's pipeline
#                                             without retraining, with S/2 seconds of retraining under that
#                                             schedule, and S/2 seconds of dense training for comparison
#   bench/train_bench.sh steps [BUILD] [N] [SPEC]
#                                             both trained for N steps (default 150) of SPEC (default
#                                             bench/gcide_small.lstm)
#   bench/train_bench.sh quant [BUILD] [S]    what quantization costs (issue 15): lstmc alone trains
#                                             bench/gcide2.lstm for S seconds (default 600), then the BPC of
#                                             valid40k.txt as one stream (--target cpu) for f32,
#                                             q8 and q4, with int8 and with f32 activations, without and
#                                             with column combining (prune 0.75 + CC α=8 + conflict-prune,
#                                             not retrained)
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
bt=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
case $bt in Release | RelWithDebInfo) ;; *) echo "$0: warning: $build is a '${bt:-unset}' build; configure it with -DCMAKE_BUILD_TYPE=Release (what make build does) before timing" >&2 ;; esac
if [ ! -f "$out/train.txt" ]; then
  (zcat /usr/share/dictd/gcide.dict.dz || true) | head -c 4000000 > "$out/all.txt"
  head -c 3600000 "$out/all.txt" > "$out/train.txt"
  tail -c 400000 "$out/all.txt" > "$out/valid.txt"
  head -c 40000 "$out/valid.txt" > "$out/valid40k.txt"
fi

lstmc_run() { # spec threads extra-args... → one JSON line; the weights go to $out/lstmc-SPEC.safetensors
  local spec=$1 threads=$2
  shift 2
  local name
  name=$(basename "$spec" .lstm)
  local log="$out/lstmc-$name-$threads.err"
  "$lstmc" train "$spec" --data "$out/train.txt" --threads "$threads" -o "$out/lstmc-$name.safetensors" "$@" 2> "$log"
  local line
  line=$(grep "lstmc: wrote" "$log" | tail -1)
  local bpc rate steps
  bpc=$(sed -n 's/.*valid bpc \([0-9.]*\)).*/\1/p' <<< "$line")
  steps=$(sed -n 's/.* after \([0-9]*\) steps.*/\1/p' <<< "$line")
  rate=$(sed -n 's/.*training at \([0-9]*\) chars\/s.*/\1/p' <<< "$line")
  printf '{"engine": "lstmc", "spec": "%s", "threads": %s, "steps": %s, "tokens_per_s": %s, "valid_bpc": %s}\n' \
    "$(basename "$spec")" "$threads" "$steps" "$rate" "$bpc"
}

one_stream() { # WEIGHTS [PIPELINE]: the validation text's BPC as one stream (lstmc eval; after PIPELINE when
  # given), beside the trainer's eval_batch streams, whose cold starts weigh heavily on 40 kB (docs/train.md)
  printf '{"engine": "lstmc", "weights": "%s", "passes": "%s", "one_stream_valid_bpc": %s}\n' "$(basename "$1")" "${2:-}" \
    "$("$lstmc" eval "$here/gcide2.lstm" --weights "$1" --data "$out/valid40k.txt" --passes "${2:-}" | sed 's/bpc: //')"
}

torch_run() { # spec threads extra-args...
  local spec=$1 threads=$2
  shift 2
  printf '{"engine": "pytorch", "spec": "%s", ' "$(basename "$spec")"
  /usr/bin/python3 "$here/train_pytorch.py" "$spec" --data "$out/train.txt" --threads "$threads" "$@" | sed 's/^{//'
}

column_combining() { # S: from lstmc's dense budget weights, gcide2_cc.lstm's pipeline without retraining, then
  # S/2 seconds of retraining under that schedule, beside S/2 seconds of dense training from the same point
  # with the same settings (the spec without its prune_at and qat lines)
  local s=$1 pipe
  pipe=$(sed -n 's/.*prune_at 1 { \(.*\) }$/\1/p' "$here/gcide2_cc.lstm" | tr -d ' ')
  one_stream "$out/lstmc-gcide2-budget.safetensors"
  one_stream "$out/lstmc-gcide2-budget.safetensors" "$pipe" # the pipeline without retraining
  lstmc_run "$here/gcide2_cc.lstm" "${THREADS:-2}" --valid "$out/valid40k.txt" --max-seconds $((s / 2)) \
    --init "$out/lstmc-gcide2-budget.safetensors"
  one_stream "$out/lstmc-gcide2_cc.safetensors"
  sed '/prune_at/d; s/ qat;//' "$here/gcide2_cc.lstm" > "$out/gcide2_dense_more.lstm"
  lstmc_run "$out/gcide2_dense_more.lstm" "${THREADS:-2}" --valid "$out/valid40k.txt" --max-seconds $((s / 2)) \
    --init "$out/lstmc-gcide2-budget.safetensors"
  one_stream "$out/lstmc-gcide2_dense_more.safetensors"
}

quant_costs() { # WEIGHTS: one JSON line per pipeline, the BPC of the validation text as one stream
  local w=$1 cc='prune{sparsity=0.75,skip=encoder.weight},column-combine{alpha=8,gamma=0.5},conflict-prune'
  local p
  for p in '' 'quantize{bits=8,activations=f32}' 'quantize{bits=8}' 'quantize{bits=4,activations=f32}' 'quantize{bits=4}' \
    "$cc" "$cc,quantize{bits=8,activations=f32}" "$cc,quantize{bits=8}" "$cc,quantize{bits=4,activations=f32}" "$cc,quantize{bits=4}"; do
    printf '{"engine": "lstmc", "weights": "%s", "passes": "%s", "valid_bytes": %s, "one_stream_valid_bpc": %s}\n' "$(basename "$w")" "$p" \
      "$(wc -c < "$out/valid40k.txt")" "$("$lstmc" eval "$here/gcide2.lstm" --weights "$w" --data "$out/valid40k.txt" --passes "$p" --target cpu | sed 's/bpc: //')"
  done
}

case $mode in
quant)
  lstmc_run "$here/gcide2.lstm" "${THREADS:-2}" --valid "$out/valid40k.txt" --max-seconds "${3:-600}" --epochs 100
  cp "$out/lstmc-gcide2.safetensors" "$out/lstmc-gcide2-quant.safetensors"
  quant_costs "$out/lstmc-gcide2-quant.safetensors"
  ;;
throughput)
  for t in 1 2; do
    lstmc_run "$here/gcide2.lstm" $t --valid "$out/valid40k.txt" --max-steps 40
    torch_run "$here/gcide2.lstm" $t --valid "$out/valid40k.txt" --max-steps 4
  done
  ;;
budget)
  s=${3:-600}
  lstmc_run "$here/gcide2.lstm" "${THREADS:-2}" --valid "$out/valid40k.txt" --max-seconds "$s" --epochs 100
  cp "$out/lstmc-gcide2.safetensors" "$out/lstmc-gcide2-budget.safetensors" # what the cc runs start from
  torch_run "$here/gcide2.lstm" "${THREADS:-2}" --valid "$out/valid40k.txt" --max-seconds "$s" --epochs 100
  column_combining "$s"
  ;;
cc)
  column_combining "${3:-600}"
  ;;
steps)
  n=${3:-150}
  spec=${4:-$here/gcide_small.lstm}
  lstmc_run "$spec" "${THREADS:-2}" --valid "$out/valid40k.txt" --max-steps "$n"
  torch_run "$spec" "${THREADS:-2}" --valid "$out/valid40k.txt" --max-steps "$n"
  ;;
*)
  echo "usage: $0 throughput|budget|cc|steps|quant [BUILD] [N]" >&2
  exit 2
  ;;
esac
