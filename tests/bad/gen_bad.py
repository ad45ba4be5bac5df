#!/usr/bin/env python3
"""Writes the malformed weights files of lstmc's bad-input catalogue (tests/bad/weights/).

Plain Python 3 (struct + json), no dependencies. Each file starts from a valid model for spec/tiny.lstm
(bytes, embed 4, lstm 6, lstm 4, tied) or spec/tiny_chars.lstm (chars, embed 4, lstm 4, untied) and breaks
exactly one thing; tests/bad/cases.txt pins the first error line lstmc prints for each.
Rerun: /usr/bin/python3 tests/bad/gen_bad.py
"""
import json, math, os, random, struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "weights")
rng = random.Random(1)


def f32(n, scale=0.3):
    return [rng.uniform(-scale, scale) for _ in range(n)]


def tiny_tensors(vocab=256, embed=4, layers=(6, 4), tied=True):
    t = {"encoder.weight": ("F32", [vocab, embed], f32(vocab * embed))}
    inp = embed
    for l, h in enumerate(layers):
        t[f"rnns.{l}.weight_ih_l0"] = ("F32", [4 * h, inp], f32(4 * h * inp))
        t[f"rnns.{l}.weight_hh_l0"] = ("F32", [4 * h, h], f32(4 * h * h))
        t[f"rnns.{l}.bias_ih_l0"] = ("F32", [4 * h], f32(4 * h))
        t[f"rnns.{l}.bias_hh_l0"] = ("F32", [4 * h], f32(4 * h))
        inp = h
    if not tied:
        t["decoder.weight"] = ("F32", [vocab, inp], f32(vocab * inp))
    t["decoder.bias"] = ("F32", [vocab], f32(vocab))
    return t


FMT = {"F32": "<f", "I32": "<i", "U8": "<B", "I8": "<b", "F64": "<d"}
SIZE = {"F32": 4, "I32": 4, "U8": 1, "I8": 1, "F64": 8}


def encode(tensors, meta=None, header_override=None):
    """Standard layout: header (padded to 8), then tensors end to end in the given order."""
    header, blobs, off = {}, [], 0
    if meta is not None:
        header["__metadata__"] = meta
    for name, (dtype, shape, values) in tensors.items():
        data = b"".join(struct.pack(FMT[dtype], v) for v in values)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = (header_override(header) if header_override else json.dumps(header)).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    good = encode(tiny_tensors())
    write("good.safetensors", good)
    write("empty.safetensors", b"")
    write("truncated.safetensors", good[: len(good) // 2])
    write("short.safetensors", b"\x10\x00\x00")
    write("header_too_long.safetensors", struct.pack("<Q", 1 << 40) + b"{}")
    write("header_not_json.safetensors", encode(tiny_tensors(), header_override=lambda h: json.dumps(h)[:-5] + "xx"))
    write("header_array.safetensors", encode({}, header_override=lambda h: "[1, 2, 3]"))

    def edit(fn):
        return lambda h: (fn(h), json.dumps(h))[1]

    write("unknown_dtype.safetensors",
          encode(tiny_tensors(), header_override=edit(lambda h: h["rnns.0.bias_ih_l0"].update(dtype="F13"))))
    write("offsets_past_end.safetensors",
          encode(tiny_tensors(), header_override=edit(lambda h: h["decoder.bias"].update(
              data_offsets=[h["decoder.bias"]["data_offsets"][0], h["decoder.bias"]["data_offsets"][1] + 4096]))))

    def overlap(h):
        a = h["rnns.1.bias_ih_l0"]["data_offsets"]
        h["rnns.1.bias_hh_l0"]["data_offsets"] = [a[0] + 4, a[1] + 4]
    write("overlapping.safetensors", encode(tiny_tensors(), header_override=edit(overlap)))
    write("size_mismatch.safetensors",
          encode(tiny_tensors(), header_override=edit(lambda h: h["rnns.0.bias_hh_l0"].update(shape=[23]))))
    write("huge_shape.safetensors",
          encode(tiny_tensors(), header_override=edit(lambda h: h["encoder.weight"].update(shape=[1000000, 1000000]))))

    t = tiny_tensors(); del t["rnns.1.weight_hh_l0"]
    write("missing_tensor.safetensors", encode(t))
    t = tiny_tensors(); t["rnns.2.weight_ih_l0"] = ("F32", [2], [0.0, 1.0])
    write("unexpected_tensor.safetensors", encode(t))
    t = tiny_tensors(); t["rnns.0.weight_hh_l0"] = ("F32", [6, 24], t["rnns.0.weight_hh_l0"][2])
    write("shape_transposed.safetensors", encode(t))
    t = tiny_tensors(); t["rnns.0.weight_ih_l0"][2][7] = math.nan
    write("nan_weight.safetensors", encode(t))
    t = tiny_tensors(); t["decoder.bias"][2][3] = math.inf
    write("inf_bias.safetensors", encode(t))
    t = tiny_tensors(); t["rnns.0.bias_ih_l0"] = ("I32", [24], [1] * 24)
    write("int_weights.safetensors", encode(t))
    t = tiny_tensors(); t["decoder.weight"] = ("F32", [256, 4], f32(1024))
    write("tied_with_own_decoder.safetensors", encode(t))
    write("not_tied.safetensors", encode(tiny_tensors(tied=False)))

    # chars model: vocabulary problems
    chars = tiny_tensors(vocab=3, embed=4, layers=(4,), tied=False)
    write("chars_good.safetensors", encode(chars, {"lstmc.vocab": json.dumps(["a", "b", " "])}))
    write("chars_no_vocab.safetensors", encode(chars))
    write("chars_vocab_not_json.safetensors", encode(chars, {"lstmc.vocab": '["a", "b", '}))
    write("chars_vocab_duplicate.safetensors", encode(chars, {"lstmc.vocab": json.dumps(["a", "b", "a"])}))
    write("chars_vocab_size.safetensors", encode(chars, {"lstmc.vocab": json.dumps(["a", "b", "c", "d"])}))
    write("chars_vocab_not_strings.safetensors", encode(chars, {"lstmc.vocab": "[\"a\", 2, \"c\"]"}))

    # lstmc.formats problems
    t = tiny_tensors()
    write("format_unknown.safetensors",
          encode(t, {"lstmc.formats": json.dumps({"rnns.0.weight_hh_l0": {"format": "cc_q3"}})}))
    hh = t.pop("rnns.0.weight_hh_l0")
    t["rnns.0.weight_hh_l0"] = ("I8", [24, 6], [1] * 144)
    write("format_missing_scale.safetensors",
          encode(t, {"lstmc.formats": json.dumps({"rnns.0.weight_hh_l0": {"format": "q8"}})}))
    # packed: 2 groups over 6 columns; a select index past its group's size
    t = tiny_tensors()
    del t["rnns.0.weight_hh_l0"]
    t["rnns.0.weight_hh_l0.codes"] = ("F32", [24, 2], f32(48))
    t["rnns.0.weight_hh_l0.group_offsets"] = ("I32", [3], [0, 3, 6])
    t["rnns.0.weight_hh_l0.group_cols"] = ("I32", [6], [0, 1, 2, 3, 4, 5])
    sel = [rng.randrange(3) for _ in range(48)]
    sel[11] = 5
    t["rnns.0.weight_hh_l0.select"] = ("U8", [24, 2], sel)
    write("packed_bad_select.safetensors",
          encode(t, {"lstmc.formats": json.dumps({"rnns.0.weight_hh_l0": {"format": "cc_packed", "groups": 2, "group_cols": 6}})}))
    # act_bits (int8 activations): a value other than 0 and 8, and int8 activations on float weights
    t = tiny_tensors()
    t["rnns.0.weight_hh_l0"] = ("I8", [24, 6], [rng.randrange(-127, 128) for _ in range(144)])
    t["rnns.0.weight_hh_l0.scale"] = ("F32", [24], f32(24))
    write("format_act_bits_value.safetensors",
          encode(t, {"lstmc.formats": json.dumps({"rnns.0.weight_hh_l0": {"format": "q8", "act_bits": 4}})}))
    t = tiny_tensors()
    t["rnns.0.weight_hh_l0.mask"] = ("U8", [24, 1], [255] * 24)
    write("format_act_bits_float.safetensors",
          encode(t, {"lstmc.formats": json.dumps({"rnns.0.weight_hh_l0": {"format": "masked", "act_bits": 8}})}))


if __name__ == "__main__":
    main()
