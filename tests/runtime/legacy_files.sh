#!/usr/bin/env bash
# Files written by an older lstmc still load and evaluate exactly as that lstmc evaluated them.
#
# The fixtures in legacy/ were written by main 026e24c (legacy/gen.sh says how): weights in every format
# the passes make, and a checkpoint whose structures use the old conventions ("groups": -1 for a structure
# without groups). For each weights file: the reference executor's summed NLL over legacy/text.txt equals,
# to the last digit, what that lstmc printed; writing the file again (`lstmc ir -o`) keeps its lstmc.formats
# metadata byte for byte and evaluates the same. For each checkpoint (ours and the bad-input catalogue's
# good one, both taken at the end of their run): resuming it trains no further and writes the run's final
# weights again, with the formats and groups the checkpoint's structures describe and the old NLL.
#   usage: legacy_files.sh LSTMC TMPDIR SOURCE_DIR
set -u
lstmc=$1
tmp=$2/legacy_files
src=$3
dir=$src/tests/runtime/legacy
rm -rf "$tmp"
mkdir -p "$tmp"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# nll SPEC WEIGHTS TEXT: the summed NLL `lstmc eval --json` prints (ref executor)
nll() { "$lstmc" eval "$1" --weights "$2" --data "$3" --json | sed -n 's/.*"nll": \([^,]*\),.*/\1/p'; }
# the lstmc.formats metadata of a safetensors file, as stored
formats() { LC_ALL=C grep -ao '"lstmc.formats":"\([^"\\]\|\\.\)*"' "$1"; }
# the weights section of `lstmc ir`: per weight its format, nonzeros, groups and bytes
weights_ir() { "$lstmc" ir "$1" --weights "$2" --passes '' | sed -n '/^weights$/,$p'; }

# what main 026e24c printed (legacy/gen.sh)
while read -r name want; do
  w=$dir/$name.safetensors
  got=$(nll "$dir/legacy.lstm" "$w" "$dir/text.txt")
  [ "$got" = "$want" ] || fail "$name: NLL $got, the lstmc that wrote it got $want"
  "$lstmc" ir "$dir/legacy.lstm" --weights "$w" --passes '' -o "$tmp/$name.safetensors" > /dev/null 2> "$tmp/err" ||
    { fail "$name: rewriting failed: $(cat "$tmp/err")"; continue; }
  [ "$(formats "$w")" = "$(formats "$tmp/$name.safetensors")" ] ||
    fail "$name: lstmc.formats written differently: $(formats "$tmp/$name.safetensors")"
  got=$(nll "$dir/legacy.lstm" "$tmp/$name.safetensors" "$dir/text.txt")
  [ "$got" = "$want" ] || fail "$name: rewritten, NLL $got instead of $want"
  [ "$(weights_ir "$dir/legacy.lstm" "$w")" = "$(weights_ir "$dir/legacy.lstm" "$tmp/$name.safetensors")" ] ||
    fail "$name: rewritten, the IR's weights differ"
done <<'EOF'
dense 1194.9943182365885
mixed_f32 1193.6072675301496
mixed_cc_quant 1194.5627812830467
mixed_quant 1194.0255278406878
bf16 1194.9893175171458
EOF
[ -n "$(formats "$dir/mixed_f32.safetensors")" ] || fail "mixed_f32.safetensors has no lstmc.formats (the check above saw nothing)"

# resume CASE SPEC CKPT TEXT FINAL WANT: resuming a finished run writes its final weights again
resume() {
  local name=$1 spec=$2 ckpt=$3 text=$4 final=$5 want=$6
  "$lstmc" train "$spec" --data "$text" --resume "$ckpt" -o "$tmp/$name.safetensors" --threads 1 --quiet 2> "$tmp/err" ||
    { fail "$name: resuming failed: $(cat "$tmp/err")"; return; }
  [ "$(weights_ir "$spec" "$tmp/$name.safetensors")" = "$(weights_ir "$spec" "$final")" ] ||
    fail "$name: the resumed run's weights differ from the original run's: $(weights_ir "$spec" "$tmp/$name.safetensors")"
  local got
  got=$(nll "$spec" "$tmp/$name.safetensors" "$text")
  [ "$got" = "$want" ] || fail "$name: NLL $got, the lstmc that wrote it got $want"
}
resume ckpt "$dir/ckpt.lstm" "$dir/ckpt.safetensors" "$dir/text.txt" "$dir/ckpt_final.safetensors" 1144.7354921073479
resume catalogue_ckpt "$src/fuzz/checkpoint.lstm" "$src/tests/bad/ckpt/good.safetensors" "$src/tests/bad/ckpt/data.txt" \
  "$src/tests/bad/ckpt/weights_only.safetensors" 9993.6915021170935

[ $fails = 0 ] && echo "legacy files: ok"
exit $((fails > 0))
