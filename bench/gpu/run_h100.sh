#!/bin/bash
# One call on a GPU machine (an H100): build lstmc without LLVM, run the test suite (with the GPU tests:
# every example and weight format against the reference executor), then time lstmc's CUDA executor and
# cuDNN's LSTM (PyTorch) on the same shapes in the same run, and write everything under $OUT:
#   summary.txt     device, test results, the comparison table (also printed last)
#   build.log       configure and build;  ctest.log  the suite;  gpu_test.log  test_cuda_gpu's report
#   bench.log       bench_cuda (lstmc);   cudnn.log  bench/gpu/cudnn_lstm.py (the peer)
#   results.json    every measurement, one JSON object per line
# Without Flex and Bison (the GPU image), run bench/gpu/prepare.sh first on the development machine and
# carry .gpu. Options: --no-tests, --no-bench, --quick (fewer tokens and repetitions).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
TESTS=1 BENCH=1 QUICK=0
for a in "$@"; do
  case $a in
  --no-tests) TESTS=0 ;;
  --no-bench) BENCH=0 ;;
  --quick) QUICK=1 ;;
  *) echo "usage: $0 [--no-tests] [--no-bench] [--quick]"; exit 2 ;;
  esac
done
S=$OUT/summary.txt
: >"$S"
say() { echo "$*" | tee -a "$S"; }

say "== $(date -u +%Y-%m-%dT%H:%MZ) lstmc $(git rev-parse --short HEAD 2>/dev/null) on $(hostname)"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv 2>&1 | tee -a "$S"
nproc | sed 's/^/cpu cores: /' | tee -a "$S"

# ---- build --------------------------------------------------------------------------------------------
GEN=()
if ! command -v bison >/dev/null || ! command -v flex >/dev/null; then
  if [ ! -f .gpu/generated/parser.c ]; then
    say "no Flex/Bison here and no .gpu/generated: run bench/gpu/prepare.sh on the development machine, carry .gpu"
    exit 1
  fi
  GEN=(-DLSTMC_GENERATED_PARSER="$PWD/.gpu/generated")
fi
t0=$(date +%s)
if ! { cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DLSTMC_WITH_LLVM=OFF "${GEN[@]}" &&
  ninja -C build-gpu -j"$(nproc)"; } >"$OUT/build.log" 2>&1; then
  tail -40 "$OUT/build.log"
  say "BUILD FAILED (build.log)"
  exit 1
fi
say "build: $(($(date +%s) - t0)) s"

# ---- tests --------------------------------------------------------------------------------------------
if [ $TESTS = 1 ]; then
  (cd build-gpu && ctest -j8 -E '^cuda_gpu$' --output-on-failure) >"$OUT/ctest.log" 2>&1
  say "ctest (all but cuda_gpu): $(grep -E 'tests passed|tests failed' "$OUT/ctest.log")"
  t0=$(date +%s)
  build-gpu/tests/cuda/test_cuda_gpu build-gpu/tests/cuda >"$OUT/gpu_test.log" 2>&1
  rc=$?
  say "cuda_gpu (exit $rc, $(($(date +%s) - t0)) s): $(tail -1 "$OUT/gpu_test.log")"
  grep -E 'CHECK failed|differ|DIFFERENT' "$OUT/gpu_test.log" | head -20 | tee -a "$S"
fi

# ---- benchmarks ---------------------------------------------------------------------------------------
if [ $BENCH = 1 ]; then
  TOK=4000 GEN=1000 REPS=9
  [ $QUICK = 1 ] && TOK=1000 GEN=200 REPS=3
  # a 50-token character vocabulary, as Penn Treebank's
  python3 -c "print(''.join(chr(33 + i) for i in range(49)))" >"$OUT/vocab50.tmp"
  : >"$OUT/bench.log"
  for model in charptb enwik8; do
    vocab=()
    [ $model = charptb ] && vocab=(--vocab-from "$OUT/vocab50.tmp")
    for fmt in dense_bf16 dense_f32 q8; do
      echo "---- $model $fmt" >>"$OUT/bench.log"
      build-gpu/bench/gpu/bench_cuda examples/$model.lstm $fmt "${vocab[@]}" --tokens $TOK --reps $REPS --batch 8 \
        --label $model >>"$OUT/bench.log" 2>&1 || echo "bench_cuda $model $fmt FAILED" | tee -a "$S"
    done
  done
  rm -f "$OUT/vocab50.tmp"
  python3 bench/gpu/cudnn_lstm.py --tokens $TOK --gen-tokens $GEN --reps $REPS >"$OUT/cudnn.log" 2>&1 ||
    say "cudnn_lstm.py FAILED (cudnn.log)"
  grep -h '^{' "$OUT/bench.log" | sed 's/^{/{"impl": "lstmc", /' >"$OUT/results.json"
  grep -h '^{' "$OUT/cudnn.log" | sed 's/^{/{"impl": "cudnn", /' >>"$OUT/results.json"
  python3 bench/gpu/summarize.py "$OUT/results.json" | tee -a "$S"
fi
