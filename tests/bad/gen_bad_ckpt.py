#!/usr/bin/python3
"""Writes the catalogue's checkpoints (tests/bad/ckpt/): a real one, made by `lstmc train` of
fuzz/checkpoint.lstm (the model of the checkpoint fuzz target) for three epochs, so that its prune_at
pipeline has left column groups, and damaged copies of it, one fault each. Run it again when the checkpoint
format changes:

    /usr/bin/python3 tests/bad/gen_bad_ckpt.py build/lstmc

then `UPDATE=1 tests/bad/run_catalogue.sh build/lstmc` and review the diff of cases.txt."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "ckpt")
SPEC = os.path.join(ROOT, "fuzz", "checkpoint.lstm")


def read(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = b[8 + n:]
    tensors = {k: [v["dtype"], v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]]] for k, v in header.items()}
    return tensors, meta


def write(name, tensors, meta):
    header, blob = {"__metadata__": meta}, b""
    for k in sorted(tensors):
        dtype, shape, raw = tensors[k]
        header[k] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + blob)


def variant(name, good, edit_tensors=None, edit_ckpt=None):
    tensors, meta = {k: list(v) for k, v in good[0].items()}, dict(good[1])
    if edit_tensors:
        edit_tensors(tensors)
    if edit_ckpt:
        c = json.loads(meta["lstmc.checkpoint"])
        edit_ckpt(c)
        meta["lstmc.checkpoint"] = json.dumps(c)
    write(name, tensors, meta)


def main():
    lstmc = os.path.abspath(sys.argv[1])
    os.makedirs(OUT, exist_ok=True)
    text = open(os.path.join(ROOT, "examples", "data", "sample.txt"), "rb").read()
    open(os.path.join(OUT, "data.txt"), "wb").write(text[:3000])
    open(os.path.join(OUT, "other_data.txt"), "wb").write(text[3000:6000])
    with tempfile.TemporaryDirectory() as tmp:
        w = os.path.join(tmp, "w.safetensors")
        subprocess.run([lstmc, "train", SPEC, "--data", os.path.join(OUT, "data.txt"), "--threads", "1", "--quiet",
                        "-o", w], check=True)
        shutil.copy(os.path.join(tmp, "w.ckpt.safetensors"), os.path.join(OUT, "good.safetensors"))
        shutil.copy(w, os.path.join(OUT, "weights_only.safetensors"))
    good_bytes = open(os.path.join(OUT, "good.safetensors"), "rb").read()
    open(os.path.join(OUT, "truncated.safetensors"), "wb").write(good_bytes[: len(good_bytes) * 2 // 3])
    good = read(os.path.join(OUT, "good.safetensors"))

    nan = struct.pack("<f", float("nan"))
    def put_nan(name, i):
        def f(t):
            raw = bytearray(t[name][2])
            raw[4 * i:4 * i + 4] = nan
            t[name][2] = bytes(raw)
        return f
    variant("version.safetensors", good, edit_ckpt=lambda c: c.update(version=2))
    t, m = good[0], dict(good[1])
    del m["lstmc.checkpoint"]
    write("no_checkpoint_key.safetensors", t, m)
    m = dict(good[1])
    m["lstmc.checkpoint"] = m["lstmc.checkpoint"][:-40]
    write("metadata_not_json.safetensors", t, m)
    variant("missing_optimizer_state.safetensors", good, edit_tensors=lambda t: t.pop("train.opt.rnns.1.weight_hh_l0.exp_avg_sq"))
    variant("unexpected_tensor.safetensors", good,
            edit_tensors=lambda t: t.__setitem__("train.opt.rnns.1.weight_hh_l0.momentum", ["F32", [4], b"\0" * 16]))
    def shorten(t):
        e = t["train.opt.encoder.weight.exp_avg"]
        e[1], e[2] = [e[1][0] - 1], e[2][:-4]
    variant("optimizer_state_size.safetensors", good, edit_tensors=shorten)
    variant("nan_carried_state.safetensors", good, edit_tensors=put_nan("train.state.h.1", 3))
    variant("nan_optimizer_state.safetensors", good, edit_tensors=put_nan("train.opt.rnns.0.weight_ih_l0.exp_avg", 5))
    variant("nan_weight.safetensors", good, edit_tensors=put_nan("rnns.0.weight_hh_l0", 2))
    variant("rng_three_words.safetensors", good, edit_ckpt=lambda c: c.update(rng=c["rng"][:3]))
    variant("epoch_zero.safetensors", good, edit_ckpt=lambda c: c.update(epoch=0))
    variant("no_data_hash.safetensors", good, edit_ckpt=lambda c: c.pop("data_hash"))
    def offsets(t):
        raw = bytearray(t["train.struct.rnns.0.weight_hh_l0.group_offsets"][2])
        raw[-4:] = struct.pack("<i", 5)
        t["train.struct.rnns.0.weight_hh_l0.group_offsets"][2] = bytes(raw)
    variant("group_offsets.safetensors", good, edit_tensors=offsets)
    def select(t):
        raw = bytearray(t["train.struct.rnns.1.weight_ih_l0.select"][2])
        raw[0] = 7
        t["train.struct.rnns.1.weight_ih_l0.select"][2] = bytes(raw)
    variant("select_out_of_group.safetensors", good, edit_tensors=select)
    variant("structure_format.safetensors", good,
            edit_ckpt=lambda c: c["structure"]["rnns.1.weight_hh_l0"].update(format="cc_q3"))
    variant("weight_drop_missing.safetensors", good, edit_ckpt=lambda c: c.update(weight_drop=[0.2]))


if __name__ == "__main__":
    main()
