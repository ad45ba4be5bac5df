#!/bin/bash
# One call on a GPU machine (an H100): build lstmc without LLVM, check it on the hardware — correctness first
# (GPU training against the CPU engine, the cuBLAS stand-in against libcublas, NCCL, `lstmc train --target
# cuda` and runs moving between CPU and GPU, the inference kernels against the reference) — then time it
# beside PyTorch/cuDNN in the same run (training on the PTB-char shape, inference scoring and generation),
# and write everything under $OUT:
#   summary.txt       device, each step's result and time, the tables (also printed last)
#   STEP.log          each step's output (build.log, train_gpu.log, …)
#   results.json      every measurement, one JSON object per line
# Every step runs under a time limit and its failure is reported without stopping the later ones; the
# summary is written whatever happens, and names the steps left out for lack of time (rerun them with
# --only). Steps, in order:
#   build         configure (-DLSTMC_WITH_LLVM=OFF) and build
#   train-test    tests/cuda/test_cuda_train_gpu: every optimizer, schedule, QAT, bf16, a wider model
#   blas-test     tests/cuda/test_cuda_blas: the host cuBLAS stand-in against libcublas
#   nccl-test     tests/cuda/test_cuda_nccl: a one-rank NCCL group on the GPU
#   train-cli     `lstmc train --target cuda` on generated text; CPU -> GPU -> CPU through checkpoints
#   infer-test    tests/cuda/test_cuda_gpu: the inference kernels against the reference executor
#   train-bench   bench_train_cuda (f32, bf16, the pass in the loop) and bench/train_pytorch.py (cuDNN:
#                 float32 with TF32 off, PyTorch's default TF32, bfloat16 autocast), PTB-char shape
#   infer-bench   bench_cuda and bench/gpu/cudnn_lstm.py (PTB-char and enwik8 shapes)
#   suite         the rest of the CTest suite (the emulator tests; CI runs them too)
# Options: --quick (under 5 minutes: fewer steps and repetitions, no suite), --only STEP,STEP…,
# --budget SECONDS (default 570, quick 280: the device machine takes at most 10 minutes a command).
# Without Flex and Bison (the GPU image), run bench/gpu/prepare.sh first on the development machine and
# carry .gpu.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=${OUT:-$ROOT/gpu-out}
mkdir -p "$OUT"
QUICK=0 ONLY="" BUDGET=""
while [ $# -gt 0 ]; do
  case $1 in
  --quick) QUICK=1 ;;
  --only) ONLY=$2; shift ;;
  --budget) BUDGET=$2; shift ;;
  --no-tests) ONLY=build,train-bench,infer-bench ;; # the old options
  --no-bench) ONLY=build,train-test,blas-test,nccl-test,train-cli,infer-test,suite ;;
  *) echo "usage: $0 [--quick] [--only STEP,…] [--budget SECONDS]"; exit 2 ;;
  esac
  shift
done
[ -z "$BUDGET" ] && BUDGET=$([ $QUICK = 1 ] && echo 280 || echo 570)
T0=$(date +%s)
DEADLINE=$((T0 + BUDGET))
S=$OUT/summary.txt
R=$OUT/results.json
: >"$S"
: >"$R"
LEFT_OUT=()
say() { echo "$*" | tee -a "$S"; }
wanted() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }
finish() {
  say ""
  say "== done in $(($(date +%s) - T0)) s (budget $BUDGET s)"
  if [ ${#LEFT_OUT[@]} -gt 0 ]; then
    local list
    list=$(IFS=,; echo "${LEFT_OUT[*]}")
    say "left out for lack of time: $list — run them with: bash bench/gpu/run_h100.sh --only $list"
  fi
}
trap finish EXIT

# step NAME LIMIT CMD…: runs CMD with its output in NAME.log under min(LIMIT, time left), records the result.
# Returns CMD's status (124: out of time); a step that cannot start in time is left out (status 125).
step() {
  local name=$1 limit=$2
  shift 2
  local left=$((DEADLINE - $(date +%s) - 5))
  if [ $left -lt 20 ]; then
    LEFT_OUT+=("$name")
    say "$name: left out (no time left)"
    return 125
  fi
  [ $limit -gt $left ] && limit=$left
  local t=$(date +%s)
  # through bash, so that CMD may be one of the functions below (exported, with the variables they read)
  timeout --kill-after=10 "$limit" bash -c '"$@"' "$name" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  local dt=$(($(date +%s) - t))
  if [ $rc = 0 ]; then
    say "$name: ok ($dt s) $(grep -E '^(cuda_|bench)[a-z_]*: [0-9]+ checks|skipped' "$OUT/$name.log" | tail -1)"
  elif [ $rc = 124 ] || [ $rc = 137 ]; then
    say "$name: TIMED OUT after $dt s (limit $limit s; $name.log)"
  elif [ $rc = 77 ]; then
    say "$name: SKIPPED ($dt s): $(tail -1 "$OUT/$name.log")"
  else
    say "$name: FAILED (exit $rc, $dt s; $name.log)"
    { grep -E 'CHECK failed|differs|error|Error|FAIL' "$OUT/$name.log" || tail -3 "$OUT/$name.log"; } | head -12 | sed 's/^/    /' |
      tee -a "$S"
  fi
  return $rc
}

say "== $(date -u +%Y-%m-%dT%H:%MZ) lstmc $(git rev-parse --short HEAD 2>/dev/null) on $(hostname)$([ $QUICK = 1 ] && echo ', --quick')"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv 2>&1 | tee -a "$S"
else
  say "nvidia-smi: not found"
fi
say "cpu cores: $(nproc)"

# ---- build ------------------------------------------------------------------------------------------
export PARSER_FLAG="" GENERATOR_FLAG=""
if ! command -v bison >/dev/null || ! command -v flex >/dev/null; then
  if [ ! -f .gpu/generated/parser.c ]; then
    say "no Flex/Bison here and no .gpu/generated: run bench/gpu/prepare.sh on the development machine, carry .gpu"
    exit 1
  fi
  PARSER_FLAG=-DLSTMC_GENERATED_PARSER=$ROOT/.gpu/generated
fi
command -v ninja >/dev/null && GENERATOR_FLAG=-GNinja
build() {
  cmake -S . -B build-gpu $GENERATOR_FLAG -DCMAKE_BUILD_TYPE=Release -DLSTMC_WITH_LLVM=OFF $PARSER_FLAG &&
    cmake --build build-gpu -j "$(nproc)"
}
export -f build
if ! step build 300 build; then
  tail -30 "$OUT/build.log" | tee -a "$S"
  say "BUILD FAILED: nothing else can run"
  exit 1
fi
export B=$ROOT/build-gpu OUT
export XDG_CACHE_HOME=$OUT/.kernel-cache # a cold kernel cache, inside $OUT's run only
mkdir -p "$XDG_CACHE_HOME" "$B/gpu-tests"

# ---- correctness on the hardware ----------------------------------------------------------------------
wanted train-test && step train_gpu 240 "$B/tests/cuda/test_cuda_train_gpu" "$B/gpu-tests"
wanted blas-test && step blas_gpu 60 "$B/tests/cuda/test_cuda_blas" "$B/gpu-tests"
wanted nccl-test && step nccl_gpu 60 "$B/tests/cuda/test_cuda_nccl" "$B/gpu-tests"

# Text with Penn Treebank's 50 characters, for the trainer and the PyTorch peer (no network here).
export DATA=$OUT/.data
mkdir -p "$DATA"
python3 - "$DATA" <<'EOF'
import random, sys
d = sys.argv[1]
random.seed(1)
chars = [chr(c) for c in range(33, 83)]  # 50 characters
def text(n):
    out, w = [], 0
    while w < n:
        word = "".join(random.choice(chars) for _ in range(random.randint(1, 9)))
        out.append(word)
        w += len(word) + 1
    return " ".join(out)[:n]
open(d + "/train.txt", "w").write("".join(chars) + text(1200000))
open(d + "/valid.txt", "w").write("".join(chars) + text(20000))
open(d + "/small_train.txt", "w").write("".join(chars) + text(60000))
open(d + "/small_valid.txt", "w").write("".join(chars) + text(3000))
EOF

train_cli() {
  # a small chars model; the same run on the CPU alone, and moved CPU -> GPU -> CPU through checkpoints
  local d=$OUT/.train-cli spec
  mkdir -p "$d"
  spec=$d/small.lstm
  cat >"$spec" <<'EOF'
model small {
    vocab chars;
    embed 32 { dropout 0.1; }
    dropout 0.1;
    lstm 128 { weight_drop 0.2; }
    dropout 0.1;
    lstm 32 { weight_drop 0.2; }
    dropout 0.1;
    decoder tied;
}
train {
    bptt 40; batch 16; epochs 3; seed 7; clip 0.25; ar 1; tar 1;
    optimizer adam { lr 0.003; }
}
EOF
  local L="$B/lstmc" args=("$spec" --data "$DATA/small_train.txt" --valid "$DATA/small_valid.txt" --quiet)
  set -e
  "$L" train "${args[@]}" --target cuda -o "$d/gpu.safetensors" --max-steps 40 --log "$d/gpu.csv"
  echo "gpu alone: $(tail -1 "$d/gpu.csv")"
  "$L" train "${args[@]}" --target cpu -o "$d/cpu.safetensors" --max-steps 40 --log "$d/cpu.csv"
  echo "cpu alone: $(tail -1 "$d/cpu.csv")"
  "$L" train "${args[@]}" --target cpu -o "$d/mix.safetensors" --max-steps 12
  "$L" train "${args[@]}" --target cuda -o "$d/mix.safetensors" --resume "$d/mix.ckpt.safetensors" --max-steps 28
  "$L" train "${args[@]}" --target cpu -o "$d/mix.safetensors" --resume "$d/mix.ckpt.safetensors" --max-steps 40 --log "$d/mix.csv"
  echo "cpu -> gpu -> cpu: $(tail -1 "$d/mix.csv")"
  "$L" eval "$spec" --weights "$d/gpu.safetensors" --data "$DATA/small_valid.txt" --target cuda
  python3 - "$d" <<'EOF'
import json, struct, sys
d = sys.argv[1]
def bpc(path):  # the valid BPC the trainer wrote into the weights' metadata
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    return float(json.loads(raw[8:8 + n])["__metadata__"]["lstmc.train.valid_bpc"])
g, c, m = bpc(d + "/gpu.safetensors"), bpc(d + "/cpu.safetensors"), bpc(d + "/mix.safetensors")
print(f"valid bpc after 40 steps: gpu {g:.6f}, cpu {c:.6f}, cpu->gpu->cpu {m:.6f}")
ok = abs(g - c) <= 1e-3 * c and abs(m - c) <= 1e-3 * c
print("train-cli: the three runs agree to 1e-3" if ok else "train-cli: FAIL: the runs differ by more than 1e-3")
sys.exit(0 if ok else 1)
EOF
}
export -f train_cli
wanted train-cli && step train_cli 150 train_cli

wanted infer-test && step infer_gpu $([ $QUICK = 1 ] && echo 120 || echo 240) "$B/tests/cuda/test_cuda_gpu" "$B/gpu-tests"

# ---- speed --------------------------------------------------------------------------------------------
export STEPS=20 WARM=3 TOK=4000 GEN=1000 REPS=9
[ $QUICK = 1 ] && STEPS=8 WARM=2 TOK=1000 GEN=200 REPS=3
train_bench_lstmc() { # precision
  "$B/bench/gpu/bench_train_cuda" bench/gpu/charptb_train.lstm --precision "$1" --steps $STEPS --warmup $WARM --label charptb
}
train_bench_torch() { # precision
  python3 bench/train_pytorch.py bench/gpu/charptb_train.lstm --data "$DATA/train.txt" --valid "$DATA/valid.txt" --device cuda \
    --precision "$1" --fixed-bptt --warmup $WARM --max-steps $STEPS
}
export -f train_bench_lstmc train_bench_torch
if wanted train-bench; then
  for p in f32 bf16; do
    step "train_bench_lstmc_$p" 120 train_bench_lstmc $p &&
      grep -h '^{' "$OUT/train_bench_lstmc_$p.log" | sed 's/^{/{"impl": "lstmc", "kind": "train", /' >>"$R"
  done
  for p in float32 tf32 bfloat16; do
    step "train_bench_torch_$p" 120 train_bench_torch $p &&
      python3 - "$OUT/train_bench_torch_$p.log" "$p" >>"$R" <<'EOF'
import json, sys
row = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")][-1]
base = {"impl": "cudnn", "kind": "train", "label": "charptb", "precision": sys.argv[2]}
print(json.dumps(dict(base, what="train_step", median=row["ms_per_step"], unit="ms", reps=row["steps"])))
print(json.dumps(dict(base, what="train_chars_per_s", median=row["tokens_per_s"], unit="chars/s", reps=row["steps"])))
EOF
  done
fi

if wanted infer-bench; then
  python3 -c "print(''.join(chr(33 + i) for i in range(49)))" >"$DATA/vocab50.txt"
  FORMATS="dense_bf16 dense_f32 q8"
  MODELS="charptb enwik8"
  [ $QUICK = 1 ] && FORMATS="dense_bf16" MODELS="charptb"
  for model in $MODELS; do
    vocab=()
    [ $model = charptb ] && vocab=(--vocab-from "$DATA/vocab50.txt")
    for fmt in $FORMATS; do
      step "infer_bench_${model}_$fmt" 120 "$B/bench/gpu/bench_cuda" examples/$model.lstm $fmt "${vocab[@]}" --tokens $TOK --reps $REPS \
        --batch 8 --label $model &&
        grep -h '^{' "$OUT/infer_bench_${model}_$fmt.log" | sed 's/^{/{"impl": "lstmc", "kind": "infer", /' >>"$R"
    done
  done
  step infer_bench_cudnn 180 python3 bench/gpu/cudnn_lstm.py --models "${MODELS// /,}" --tokens $TOK --gen-tokens $GEN --reps $REPS &&
    grep -h '^{' "$OUT/infer_bench_cudnn.log" | sed 's/^{/{"impl": "cudnn", "kind": "infer", /' >>"$R"
fi

if [ -s "$R" ]; then
  python3 bench/gpu/summarize.py "$R" 2>&1 | tee -a "$S"
fi

# ---- the rest of the suite (CI runs it too) ------------------------------------------------------------
suite() { cd "$B" && ctest -j"$(nproc)" -E '^cuda_(gpu|train_gpu|blas|nccl)$' --output-on-failure; }
export -f suite
if [ $QUICK = 0 ] && wanted suite; then
  step suite 240 suite
  say "    $(grep -E 'tests passed|tests failed' "$OUT/suite.log")"
fi
