#!/usr/bin/env bash
# `lstmc train` and `lstmc plot` from the command line: exit statuses and messages for bad usage, Ctrl-C
# (SIGINT) stopping at a batch boundary with a checkpoint and exit status 130, --resume continuing to the
# same bytes as a run that was never interrupted, the CSV log, and the plot.
#   usage: cli_train.sh LSTMC TMPDIR SOURCE_DIR
set -u
lstmc=$1
tmp=$2/cli_train
src=$3
rm -rf "$tmp"
mkdir -p "$tmp"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

head -c 4800 "$src/examples/data/sample.txt" > "$tmp/train.txt"
tail -c 1200 "$src/examples/data/sample.txt" > "$tmp/valid.txt"
cat > "$tmp/m.lstm" <<'EOF'
model cli { vocab chars; embed 8; dropout 0.1; lstm 32 { weight_drop 0.2; } lstm 8; decoder tied; }
train { data "train.txt"; valid "valid.txt"; bptt 16; batch 4; epochs 400; seed 3; optimizer adam { lr 0.01; } }
EOF

# expect STATUS TEXT -- COMMAND...: the exit status and a piece of stderr
expect() {
  local want=$1 text=$2
  shift 3
  "$@" > "$tmp/out" 2> "$tmp/err"
  local got=$?
  [ "$got" = "$want" ] || fail "$* exited $got, expected $want: $(cat "$tmp/err")"
  grep -qF -- "$text" "$tmp/err" || fail "$*: stderr lacks '$text': $(cat "$tmp/err")"
}

expect 2 "train: --o is required" -- "$lstmc" train "$tmp/m.lstm"
expect 2 "the reference executor is for inference only" -- "$lstmc" train "$tmp/m.lstm" -o "$tmp/w.safetensors" --target ref
expect 2 "unknown target 'tpu' (training runs on cpu or cuda)" -- "$lstmc" train "$tmp/m.lstm" -o "$tmp/w.safetensors" --target tpu
expect 2 "--precision must be f32 or bf16" -- "$lstmc" train "$tmp/m.lstm" -o "$tmp/w.safetensors" --target cuda --precision fp8
expect 2 "--precision is for --target cuda" -- "$lstmc" train "$tmp/m.lstm" -o "$tmp/w.safetensors" --precision bf16
expect 2 "--epochs must be an integer" -- "$lstmc" train "$tmp/m.lstm" -o "$tmp/w.safetensors" --epochs 0
expect 2 "--resume and --init exclude each other" -- "$lstmc" train "$tmp/m.lstm" -o "$tmp/w.safetensors" --resume a --init b
expect 1 "nothere.txt" -- "$lstmc" train "$tmp/m.lstm" -o "$tmp/w.safetensors" --data "$tmp/nothere.txt"
expect 2 "plot: '$tmp/x.jpg': the output must end in .png or .svg" -- "$lstmc" plot "$tmp/m.lstm" -o "$tmp/x.jpg"

# Ctrl-C: a long run is interrupted once its first checkpoint exists
"$lstmc" train "$tmp/m.lstm" -o "$tmp/int.safetensors" --log "$tmp/int.csv" 2> "$tmp/int.err" &
pid=$!
for _ in $(seq 1 300); do
  [ -f "$tmp/int.ckpt.safetensors" ] && break
  sleep 0.05
done
kill -INT $pid
wait $pid
status=$?
[ "$status" = 130 ] || fail "interrupted train exited $status, expected 130: $(tail -2 "$tmp/int.err")"
grep -q "interrupted at epoch .*, step .*; checkpoint saved: continue with --resume $tmp/int.ckpt.safetensors" "$tmp/int.err" ||
  fail "no resume hint: $(tail -2 "$tmp/int.err")"
step=$(sed -n 's/.*interrupted at epoch [0-9]*, step \([0-9]*\);.*/\1/p' "$tmp/int.err")
[ -f "$tmp/int.safetensors" ] && fail "an interrupted run must not write -o"

# resumed (on one thread) to step+40, the same bytes as an uninterrupted run (two threads) to step+40
if [ -n "$step" ]; then
  stop=$((step + 40))
  "$lstmc" train "$tmp/m.lstm" -o "$tmp/int.safetensors" --log "$tmp/int.csv" --resume "$tmp/int.ckpt.safetensors" \
    --max-steps $stop --threads 1 --quiet || fail "resume failed"
  "$lstmc" train "$tmp/m.lstm" -o "$tmp/ref.safetensors" --log "$tmp/ref.csv" --max-steps $stop --threads 2 --quiet ||
    fail "reference run failed"
  cmp -s "$tmp/int.safetensors" "$tmp/ref.safetensors" || fail "interrupted+resumed weights differ from an uninterrupted run"
  cut -d, -f1-6 "$tmp/int.csv" > "$tmp/a" && cut -d, -f1-6 "$tmp/ref.csv" > "$tmp/b"
  cmp -s "$tmp/a" "$tmp/b" || fail "the logs differ: $(diff "$tmp/a" "$tmp/b" | head -4)"
  head -1 "$tmp/int.csv" | grep -q "^epoch,train_loss,train_bpc,valid_bpc,lr,sparsity,seconds,pass_seconds,pass_fraction" ||
    fail "log header: $(head -1 "$tmp/int.csv")"
  # the trained weights evaluate to the reported BPC (eval_batch 1, as lstmc eval)
  want=$(LC_ALL=C grep -ao '"lstmc.train.valid_bpc":"[0-9.]*"' "$tmp/int.safetensors" | sed 's/.*:"\(.*\)"/\1/')
  got=$("$lstmc" eval "$tmp/m.lstm" --weights "$tmp/int.safetensors" --data "$tmp/valid.txt" --json |
    sed -n 's/.*"bpc": \([0-9.e-]*\),.*/\1/p')
  awk -v a="$want" -v b="$got" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && d < 1e-5) }' ||
    fail "lstmc eval gives $got, the trainer reported $want"
  if [ "$(wc -l < "$tmp/int.csv")" -ge 2 ]; then
    "$lstmc" plot "$tmp/int.csv" -o "$tmp/curve.svg" || fail "plot svg"
    grep -q "<svg" "$tmp/curve.svg" || fail "no svg"
  fi
else
  fail "could not read the step from: $(tail -2 "$tmp/int.err")"
fi

echo "cli_train: $fails failed"
[ $fails = 0 ]
