#!/usr/bin/env bash
# The demo behind `make demo`: takes a default corpus (Debian's fortunes, or examples/data/sample.txt when
# that package is absent), initializes examples/tiny.lstm, evaluates it and generates a sample, trains it for
# about a minute, runs the spec's pass pipeline on the trained weights (BPC before and after), plots the
# curves and samples again, saying what it does at each step. Outputs go to $BUILD/demo/.
set -euo pipefail
build=${1:-build}
lstmc="$build/lstmc"
out="$build/demo"
mkdir -p "$out"
spec=examples/tiny.lstm

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

corpus="$out/corpus.txt"
fdir=/usr/share/games/fortunes
if [ -f "$fdir/fortunes" ]; then
  cat "$fdir/fortunes" "$fdir/literature" "$fdir/science" "$fdir/wisdom" > "$corpus" 2>/dev/null || cat "$fdir/fortunes" > "$corpus"
  src="Debian's fortunes ($fdir)"
else
  cp examples/data/sample.txt "$corpus"
  src="examples/data/sample.txt (fortunes is not installed)"
fi
total=$(wc -c < "$corpus")
head -c $((total * 9 / 10)) "$corpus" > "$out/train.txt"
tail -c $((total - total * 9 / 10)) "$corpus" > "$out/valid.txt"
head -c 20000 "$out/valid.txt" > "$out/valid-20k.txt"

say "corpus: $src — $total bytes (90% train, 10% valid)"

say "check: lstmc check $spec"
"$lstmc" check "$spec"

say "init: random PyTorch-style weights"
"$lstmc" init "$spec" --seed 1 -o "$out/tiny-init.safetensors"

say "eval: bits per character of the untrained model on 20 kB of held-out text (reference executor)"
"$lstmc" eval "$spec" --weights "$out/tiny-init.safetensors" --data "$out/valid-20k.txt"

say "generate: 120 characters from the untrained model (expect noise)"
"$lstmc" generate "$spec" --weights "$out/tiny-init.safetensors" --prime "The " --length 120 --seed 7 | cat -v

say "train: about a minute of AWD-LSTM training (dropouts, weight-drop, Adam; Ctrl-C would checkpoint)"
"$lstmc" train "$spec" --data "$out/train.txt" --valid "$out/valid-20k.txt" -o "$out/tiny-trained.safetensors" \
  --epochs 1000 --max-seconds 60 --log "$out/train.csv"

say "eval: the trained model as trained (--passes '' skips the spec's pipeline)"
"$lstmc" eval "$spec" --weights "$out/tiny-trained.safetensors" --data "$out/valid-20k.txt" --passes ''

say "passes: the spec's pipeline on the trained weights, and the BPC after it"
"$lstmc" eval "$spec" --weights "$out/tiny-trained.safetensors" --data "$out/valid-20k.txt" --stats

plot="$out/train.svg"
if "$lstmc" plot "$out/train.csv" -o "$out/train.png" 2> /dev/null; then plot="$out/train.png"; else "$lstmc" plot "$out/train.csv" -o "$plot"; fi
say "plot: the training curves are in $plot"

say "generate: 200 characters from the trained model at temperature 0.7 (--passes '': as trained)"
"$lstmc" generate "$spec" --weights "$out/tiny-trained.safetensors" --passes '' --prime "The " --length 200 --temperature 0.7 --seed 7 | cat -v

say "generate: the same from the compressed model (the spec's pipeline, 37% of the weights, 8-bit)"
"$lstmc" generate "$spec" --weights "$out/tiny-trained.safetensors" --prime "The " --length 200 --temperature 0.7 --seed 7 | cat -v

say "done — outputs in $out/"
