#!/usr/bin/env bash
# How the legacy fixtures of this folder were made: weights files and a training checkpoint written by lstmc
# as of main 026e24c (before the encoding table and the shared format-metadata codec), so that
# tests/runtime/legacy_files.sh can check that files written then still load and evaluate the same.
#
# Never rerun this with a newer lstmc: the point of these files is that an old one wrote them. It is kept
# to say what each file holds. Usage (what was run): tests/runtime/legacy/gen.sh /path/to/old/lstmc
#
#   dense.safetensors           every weight dense f32, plain safetensors (no lstmc.formats)
#   mixed_f32.safetensors       masked, masked with column groups, cc_packed, q8, masked_q4
#   mixed_cc_quant.safetensors  ternary, cc_q8, cc_q4, cc_ternary, cc_binary, masked_binary
#   mixed_quant.safetensors     binary, q4, ternary, masked_q8, masked_ternary, masked_q8 with groups
#   bf16.safetensors            dense_bf16 (plain BF16 tensors), dense_bf16 with groups, cc_bf16
#   ckpt.safetensors            the checkpoint at the end of `lstmc train ckpt.lstm` (structures: masked
#                               without groups, masked with groups, cc_packed)
#   ckpt_final.safetensors      that run's -o output
set -eu
lstmc=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$here"

"$lstmc" init legacy.lstm --vocab-from text.txt --seed 7 -o dense.safetensors
ir() { "$lstmc" ir legacy.lstm --weights "$1" --passes "$2" -o "$3" > /dev/null; }
ir dense.safetensors 'prune{sparsity=0.5,only=rnns.0.*|rnns.1.weight_ih_l0|decoder.weight},column-combine{alpha=4,gamma=0.5,only=rnns.0.weight_hh_l0|rnns.1.weight_ih_l0},conflict-prune{only=rnns.1.weight_ih_l0},quantize{bits=8,only=rnns.1.weight_hh_l0},quantize{bits=4,only=decoder.weight}' mixed_f32.safetensors
ir dense.safetensors 'prune{sparsity=0.5,skip=encoder.weight},column-combine{alpha=4,gamma=0.5,only=rnns.*},conflict-prune,quantize{bits=8,only=rnns.0.weight_ih_l0},quantize{bits=4,only=rnns.0.weight_hh_l0},quantize{bits=2,only=rnns.1.weight_ih_l0|encoder.weight},quantize{bits=1,only=rnns.1.weight_hh_l0|decoder.weight}' mixed_cc_quant.safetensors
ir dense.safetensors 'prune{sparsity=0.4,only=rnns.1.*|decoder.weight},column-combine{alpha=3,gamma=0.25,block=8,only=decoder.weight},quantize{bits=1,only=encoder.weight},quantize{bits=4,only=rnns.0.weight_ih_l0},quantize{bits=2,only=rnns.0.weight_hh_l0|rnns.1.weight_hh_l0},quantize{bits=8,only=rnns.1.weight_ih_l0|decoder.weight}' mixed_quant.safetensors

# bf16: the 2-D tensors of dense.safetensors rounded to BF16 (no pass makes bf16), then grouped and packed
/usr/bin/python3 - dense.safetensors "$tmp/bf16_in.safetensors" <<'EOF'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n]); data = b[8 + n:]
out, blob = {"__metadata__": h.pop("__metadata__", {})}, b""
for k in sorted(h, key=lambda k: -len(h[k]["shape"])):
    v = h[k]; raw = data[v["data_offsets"][0]:v["data_offsets"][1]]; dt = v["dtype"]
    if len(v["shape"]) == 2:  # round to nearest even
        u = struct.unpack("<%dI" % (len(raw) // 4), raw)
        raw = struct.pack("<%dH" % len(u), *[((x + 0x7fff + ((x >> 16) & 1)) >> 16) & 0xffff for x in u])
        dt = "BF16"
    out[k] = {"dtype": dt, "shape": v["shape"], "data_offsets": [len(blob), len(blob) + len(raw)]}
    blob += raw
hj = json.dumps(out).encode(); hj += b" " * (-len(hj) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(hj)) + hj + blob)
EOF
ir "$tmp/bf16_in.safetensors" 'column-combine{alpha=4,gamma=0.5,only=rnns.0.weight_hh_l0|rnns.1.weight_ih_l0},conflict-prune{only=rnns.1.weight_ih_l0}' bf16.safetensors

"$lstmc" train ckpt.lstm --data text.txt -o "$tmp/final.safetensors" --threads 1 --quiet
cp "$tmp/final.safetensors" ckpt_final.safetensors
cp "$tmp/final.ckpt.safetensors" ckpt.safetensors

# the figures legacy_files.sh expects
for w in dense mixed_f32 mixed_cc_quant mixed_quant bf16; do
  echo "$w $("$lstmc" eval legacy.lstm --weights $w.safetensors --data text.txt --json | sed 's/.*"nll": \([^,]*\),.*/\1/')"
done
echo "ckpt_final $("$lstmc" eval ckpt.lstm --weights ckpt_final.safetensors --data text.txt --json | sed 's/.*"nll": \([^,]*\),.*/\1/')"
