#!/usr/bin/env bash
# The CPU inference benchmark (issues 5 and 15) in one run: PTB-char (examples/charptb.lstm, 50-character
# vocabulary, random weights from `lstmc init`) on lstmc's CPU backend and on its peers, same weights, same
# run, interleaved.
#
#   lstmc   dense fp32; quantize{bits=8} (int8 activations: the integer kernels); quantize{bits=8,
#           activations=f32} (the float kernel on q8 codes, for comparison); quantize{bits=4}; bf16 (the
#           weights rounded to bfloat16: the vdpbf16ps kernel where the CPU has AVX512-BF16); and
#           prune{sparsity=0.875},column-combine{alpha=8,gamma=0.5},conflict-prune,quantize{bits=8}
#   ONNX Runtime  the same model exported from the same weights (bench/peer_models.py, Debian's torch),
#           fp32 and quantize_dynamic int8 (bench/ort_lstm.py), from PyPI in a virtual environment this
#           script makes under the build folder (BUILD/bench-venv; never a build dependency)
#   PyTorch  torch.nn.LSTM (bench/torch_lstm.py, /usr/bin/python3) with 1 and 2 threads, and 1 thread with
#           OPENBLAS_NUM_THREADS=2 (its best on OpenBLAS)
# each generating (batch 1, one token per step, sampling not included) and scoring (per token), with 1 and
# 2 threads. The configurations run in ROUNDS rounds, each round every configuration once in the same
# order, so that a change in the machine's load touches all of them alike; a configuration's figure is the
# median over the rounds of its per-run medians. Once, in the first round: the reference executor,
# automatic threads, 4 streams, and the time of `lstmc compile`.
#
#   bench/run.sh [BUILD]     BUILD: the CMake build folder (default build); output in OUT (default
#                            BUILD/bench-out): results.csv (every run, with its round), summary.csv (the
#                            medians), results.md (the tables)
#   SECONDS_PER=2 ROUNDS=3   timed seconds per run, rounds
#   PEERS=0                  lstmc alone (no ONNX Runtime, no PyTorch)
#   VENV=BUILD/bench-venv    where ONNX Runtime is installed (pip install onnxruntime onnx)
set -euo pipefail
build=${1:-build}
out=${OUT:-$build/bench-out}
secs=${SECONDS_PER:-2}
rounds=${ROUNDS:-3}
peers=${PEERS:-1}
venv=${VENV:-$build/bench-venv}
lstmc=$build/lstmc
spec=examples/charptb.lstm
mkdir -p "$out"
bt=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
case $bt in Release | RelWithDebInfo) ;; *) echo "$0: warning: $build is a '${bt:-unset}' build; configure it with -DCMAKE_BUILD_TYPE=Release (what make build does) before timing" >&2 ;; esac
[ -x "$lstmc" ] || { echo "bench/run.sh: build first (cmake --build $build)" >&2; exit 1; }
sparse='prune{sparsity=0.875},column-combine{alpha=8,gamma=0.5},conflict-prune,quantize{bits=8}'

printf "abcdefghijklmnopqrstuvwxyz0123456789 .,'-&\$#*/\\\\<>\n" > "$out/vocab.txt" # 50 characters, as PTB's
"$lstmc" init $spec --vocab-from "$out/vocab.txt" --seed 1 -o "$out/weights.safetensors" 2>/dev/null

# the peers' inputs: a bf16 copy of the weights and the ONNX model (Debian's torch), ONNX Runtime (PyPI)
have_torch=0
/usr/bin/python3 -c "import torch" 2>/dev/null && have_torch=1
have_ort=0
if [ "$have_torch" = 1 ]; then
  /usr/bin/python3 bench/peer_models.py "$out/weights.safetensors" --bf16 "$out/weights_bf16.safetensors" \
    $([ "$peers" = 1 ] && echo --onnx "$out/charptb.onnx")
else
  echo "bench/run.sh: /usr/bin/python3 has no torch: no bf16 weights, no ONNX model, no PyTorch rows" >&2
fi
if [ "$peers" = 1 ] && [ "$have_torch" = 1 ]; then
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import onnxruntime, onnx" 2>/dev/null; then
    echo "bench/run.sh: installing onnxruntime and onnx into $venv" >&2
    /usr/bin/python3 -m venv "$venv" && "$venv/bin/pip" install -q onnxruntime onnx || true
  fi
  if "$venv/bin/python" -c "import onnxruntime, onnx" 2>/dev/null; then
    "$venv/bin/python" bench/ort_lstm.py --quantize "$out/charptb.onnx" "$out/charptb_int8.onnx" 2>/dev/null
    have_ort=1
  else
    echo "bench/run.sh: no ONNX Runtime (pip failed?): its rows are skipped" >&2
  fi
fi

csv=$out/results.csv
echo "round,weights,model,target,executor,mode,batch,threads,reps,median_us,p90_us,p99_us,us_per_token,tokens_per_s,step_bytes,gb_per_s" > "$csv"
round=0
passes_of() { # LABEL -> --passes
  case $1 in
    dense_q8) echo 'quantize{bits=8}' ;;
    dense_q8_f32act) echo 'quantize{bits=8,activations=f32}' ;;
    dense_q4) echo 'quantize{bits=4}' ;;
    pruned_cc_q8) echo "$sparse" ;;
    *) echo '' ;;
  esac
}
weights_of() { [ "$1" = bf16 ] && echo "$out/weights_bf16.safetensors" || echo "$out/weights.safetensors"; }
bench() { # LABEL ARGS...
  local w=$1
  shift
  echo "$round,$w,$("$lstmc" bench $spec --weights "$(weights_of $w)" --passes "$(passes_of $w)" --seconds "$secs" -o csv "$@" | tail -n 1)" >> "$csv"
}
torch() { # LABEL ARGS...
  local w=$1
  shift
  echo "$round,$w,$(/usr/bin/python3 bench/torch_lstm.py "$out/weights.safetensors" --model charptb --seconds "$secs" "$@")" >> "$csv"
}
ort() { # LABEL MODEL ARGS...
  local w=$1 m=$2
  shift 2
  echo "$round,$w,$("$venv/bin/python" bench/ort_lstm.py "$out/$m.onnx" --label ${w#ort_} --name charptb --seconds "$secs" "$@")" >> "$csv"
}

lstmc_weights="dense_f32 dense_q8 dense_q8_f32act dense_q4 pruned_cc_q8"
[ -f "$out/weights_bf16.safetensors" ] && lstmc_weights="$lstmc_weights bf16"
for round in $(seq 1 "$rounds"); do
  echo "bench/run.sh: round $round of $rounds" >&2
  if [ "$round" = 1 ]; then
    bench dense_f32 --target ref --reps 20
    for w in dense_f32 pruned_cc_q8; do
      bench $w --target cpu --threads 0
      bench $w --target cpu --threads 2 --batch 4
    done
  fi
  for t in 1 2; do
    for w in $lstmc_weights; do
      bench $w --target cpu --threads $t
      bench $w --target cpu --threads $t --mode score
    done
    if [ "$have_ort" = 1 ]; then
      for m in fp32 int8; do
        model=charptb$([ $m = int8 ] && echo _int8 || true)
        ort ort_$m $model --threads $t
        ort ort_$m $model --threads $t --mode score --tokens 1024
      done
    fi
    if [ "$have_torch" = 1 ] && [ "$peers" = 1 ]; then
      torch torch --threads $t
      torch torch --threads $t --mode score --tokens 256 --reps 2
    fi
  done
  if [ "$have_torch" = 1 ] && [ "$peers" = 1 ]; then
    OPENBLAS_NUM_THREADS=2 torch torch_openblas2 --threads 1
    OPENBLAS_NUM_THREADS=2 torch torch_openblas2 --threads 1 --mode score --tokens 256 --reps 2
  fi
done

compile_ms() { # LABEL: milliseconds of `lstmc compile` (best of 3), loading the weights and the passes included
  local best=
  for i in 1 2 3; do
    local t0 t1
    t0=$(date +%s%N)
    "$lstmc" compile $spec --weights "$(weights_of $1)" --passes "$(passes_of $1)" --target cpu -o "$out/$1.o" --header "$out/$1.h"
    t1=$(date +%s%N)
    local ms=$(((t1 - t0) / 1000000))
    if [ -z "$best" ] || [ $ms -lt $best ]; then best=$ms; fi
  done
  echo $best
}
compile_line="lstmc compile (weights loaded, pipeline run, repacked, compiled, written): dense_f32 $(compile_ms dense_f32) ms, dense_q8 $(compile_ms dense_q8) ms, pruned_cc_q8 $(compile_ms pruned_cc_q8) ms (best of 3)"

# the medians over the rounds, and the tables
python3 - "$csv" "$out/summary.csv" "$compile_line" <<'EOF' | tee "$out/results.md"
import csv, os, statistics, subprocess, sys, time
rows = list(csv.DictReader(open(sys.argv[1])))
groups = {}
for r in rows:
    key = (r["weights"], r["executor"], r["mode"], r["batch"], r["threads"])
    groups.setdefault(key, []).append(r)
summary = []
for key, rs in groups.items():
    med = statistics.median(float(r["median_us"]) for r in rs)
    summary.append(dict(weights=key[0], executor=key[1], mode=key[2], batch=key[3], threads=key[4], runs=len(rs),
                        median_us=med, spread_us=max(float(r["median_us"]) for r in rs) - min(float(r["median_us"]) for r in rs),
                        step_bytes=rs[0]["step_bytes"], gb_per_s=float(rs[0]["step_bytes"]) / med / 1e3 if med > 0 else 0))
with open(sys.argv[2], "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(summary[0].keys()))
    w.writeheader()
    for s in summary:
        w.writerow({k: (f"{v:.3f}" if isinstance(v, float) else v) for k, v in s.items()})
def fig(weights, mode, threads, executor=None):
    for s in summary:
        if s["weights"] == weights and s["mode"] == mode and s["threads"] == threads and s["batch"] == "1" and \
                (executor is None or s["executor"] == executor) and s["executor"] != "ref":
            return s["median_us"]
    return None
cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True, text=True).stdout.strip()
print(f"PTB-char (examples/charptb.lstm), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {cpu}, {os.cpu_count()} cores; "
      f"load average now: {open('/proc/loadavg').read().split()[0]}; medians over the rounds of each run's median (µs per token)")
print()
cols = [("lstmc dense fp32", "dense_f32"), ("ORT fp32", "ort_fp32"), ("ORT dynamic int8", "ort_int8"),
        ("lstmc dense q8", "dense_q8"), ("lstmc dense q8, f32 activations", "dense_q8_f32act"), ("lstmc dense q4", "dense_q4"),
        ("lstmc bf16", "bf16"), ("lstmc prune 0.875 + CC α=8 + q8", "pruned_cc_q8")]
print("| | " + " | ".join(c for c, _ in cols) + " |")
print("| --- |" + " ---: |" * len(cols))
for mode, mname in (("gen", "generate"), ("score", "score")):
    for t in ("1", "2"):
        cells = [fig(w, mode, t) for _, w in cols]
        print(f"| {mname}, {t} thread{'s' if t == '2' else ''} | " + " | ".join("—" if c is None else f"{c:.1f}" for c in cells) + " |")
print()
print("Targets (issue 15), from the rows above:")
def ratio(a, b):
    return None if a is None or b is None else a / b
for t in ("1", "2"):
    checks = [
        ("dense q8 generation / ORT int8", ratio(fig("dense_q8", "gen", t), fig("ort_int8", "gen", t)), 1.0),
        ("dense q8 score / ORT int8", ratio(fig("dense_q8", "score", t), fig("ort_int8", "score", t)), 0.8),
        ("dense q4 generation / ORT int8", ratio(fig("dense_q4", "gen", t), fig("ort_int8", "gen", t)), 0.55),
        ("bf16 generation / lstmc fp32", ratio(fig("bf16", "gen", t), fig("dense_f32", "gen", t)), 0.55),
    ]
    for name, r, target in checks:
        print(f"- {t} thread{'s' if t == '2' else ''}: {name}: " + ("—" if r is None else f"{r:.2f} (target ≤ {target})"))
    p = fig("pruned_cc_q8", "gen", t)
    print(f"- {t} thread{'s' if t == '2' else ''}: prune+CC+q8 generation: " + ("—" if p is None else f"{p:.1f} µs (target ≤ {50 if t == '1' else 30})"))
print()
print("| weights | executor | mode | batch | threads | runs | median µs | spread µs | GB/s |")
print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for s in summary:
    print(f"| {s['weights']} | {s['executor']} | {s['mode']} | {s['batch']} | {s['threads'] if s['threads'] != 'all' else 'auto'} | "
          f"{s['runs']} | {s['median_us']:.1f} | {s['spread_us']:.1f} | {s['gb_per_s']:.1f} |")
print()
print(sys.argv[3])
EOF
