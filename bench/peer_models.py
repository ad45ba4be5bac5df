#!/usr/bin/python3
"""The inputs of bench/run.sh's peers and bf16 row, made from one lstmc weights file (dense F32, PyTorch
names), with Debian's torch (/usr/bin/python3):

    /usr/bin/python3 bench/peer_models.py WEIGHTS --onnx OUT.onnx [--bf16 OUT.safetensors]

--onnx: the model of bench/torch_lstm.py (nn.Embedding, one single-layer nn.LSTM per layer, the linear
decoder, a log-softmax), exported by torch.onnx.export with the same weights: inputs `tokens` [T, 1] (int64,
T dynamic) and each layer's h0, c0 [1, 1, H]; outputs `logprobs` [T, 1, V] and each layer's h, c. One model
serves both benchmark modes: a generation step is T = 1 with the state fed back, scoring one call over T
tokens. bench/ort_lstm.py runs it (and quantize_dynamic makes its int8 twin).

--bf16: the same weights with every 2-D tensor rounded to bfloat16 (round to nearest even, as lstmc's
f32_to_bf16), which lstmc loads as dense_bf16; 1-D tensors and the metadata (vocabulary) stay as they are.
"""

import argparse
import json
import os
import struct
import sys

import warnings

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden"))
from gen_golden import read_safetensors  # noqa: E402
from torch_lstm import build  # noqa: E402


class Model(nn.Module):
    def __init__(self, enc, lstms, dec):
        super().__init__()
        self.enc, self.lstms, self.dec = enc, nn.ModuleList(lstms), dec

    def forward(self, tokens, *state):
        out = self.enc(tokens)
        new = []
        for k, m in enumerate(self.lstms):
            out, (h, c) = m(out, (state[2 * k], state[2 * k + 1]))
            new += [h, c]
        return (torch.log_softmax(self.dec(out), dim=-1), *new)


def export_onnx(w, path):
    enc, lstms, dec, V, _ = build(w)
    model = Model(enc, lstms, dec).eval()
    state, names, outs = [], ["tokens"], ["logprobs"]
    for k, m in enumerate(lstms):
        state += [torch.zeros(1, 1, m.hidden_size), torch.zeros(1, 1, m.hidden_size)]
        names += [f"h{k}", f"c{k}"]
        outs += [f"h{k}_out", f"c{k}_out"]
    tokens = torch.zeros(4, 1, dtype=torch.int64)
    with torch.no_grad():
        torch.onnx.export(model, (tokens, *state), path, input_names=names, output_names=outs,
                          dynamic_axes={"tokens": {0: "T"}, "logprobs": {0: "T"}}, opset_version=14)


def write_bf16(meta, w, path):
    header = {"__metadata__": meta}
    blobs, off = [], 0
    for name, t in w.items():
        if t.dim() == 2:
            b = t.to(torch.bfloat16).view(torch.int16).numpy().tobytes()
            dtype = "BF16"
        else:
            b = struct.pack("<%df" % t.numel(), *t.reshape(-1).tolist())
            dtype = "F32"
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    h += b" " * ((-len(h)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("weights")
    ap.add_argument("--onnx")
    ap.add_argument("--bf16")
    a = ap.parse_args()
    warnings.filterwarnings("ignore")  # the exporter's notes on shape inference
    meta, w = read_safetensors(a.weights)
    torch.set_grad_enabled(False)
    if a.onnx:
        export_onnx(w, a.onnx)
    if a.bf16:
        write_bf16(meta, w, a.bf16)


if __name__ == "__main__":
    main()
