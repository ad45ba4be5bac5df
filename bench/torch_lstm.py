#!/usr/bin/python3
"""The PyTorch peer of `lstmc bench`: torch.nn.LSTM (one single-layer LSTM per layer, as AWD-LSTM
stacks them), nn.Embedding and a linear decoder on the same shapes and the same weights as an lstmc
weights file (dense F32 tensors, PyTorch names; the decoder is the embedding when the file has no
decoder.weight), batch 1, no gradients.

    /usr/bin/python3 bench/torch_lstm.py WEIGHTS --threads N [--mode gen|score] [--tokens N]
                                                 [--seconds S] [--reps R] [--header]

gen: one step per repetition (embedding, every layer with its state carried, decoder), after 20
warm-up steps; score: one forward pass over --tokens tokens (each nn.LSTM runs the whole sequence),
time per token. Prints one CSV row with the columns of `lstmc bench -o csv` (and the header line with
--header). The weights are read with the independent safetensors reader of tests/golden/gen_golden.py.
"""

import argparse
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden"))
from gen_golden import read_safetensors  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_rows import csv_row, time_calls, time_steps  # noqa: E402

def build(w):
    enc_w = w["encoder.weight"]
    V, E = enc_w.shape
    enc = nn.Embedding(V, E)
    enc.weight.copy_(enc_w)
    lstms = []
    step_bytes = 0
    l = 0
    while f"rnns.{l}.weight_ih_l0" in w:
        wih, whh = w[f"rnns.{l}.weight_ih_l0"], w[f"rnns.{l}.weight_hh_l0"]
        m = nn.LSTM(wih.shape[1], whh.shape[1])
        for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            getattr(m, k).copy_(w[f"rnns.{l}.{k}"])
            step_bytes += w[f"rnns.{l}.{k}"].numel() * 4
        lstms.append(m)
        l += 1
    tied = "decoder.weight" not in w
    dec_w = enc_w if tied else w["decoder.weight"]
    dec = nn.Linear(dec_w.shape[1], V)
    dec.weight.copy_(dec_w)
    dec.bias.copy_(w["decoder.bias"])
    # as lstmc counts it: the decoder and its bias, and one embedding row unless the decoder is the embedding
    step_bytes += dec_w.numel() * 4 + V * 4 + (0 if tied else E * 4)
    return enc, lstms, dec, V, step_bytes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("weights")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--mode", choices=("gen", "score"), default="gen")
    ap.add_argument("--tokens", type=int, default=1024)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--reps", type=int, default=0)
    ap.add_argument("--model", default="model")
    ap.add_argument("--header", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_grad_enabled(False)
    _, w = read_safetensors(a.weights)
    enc, lstms, dec, V, step_bytes = build(w)
    gen = torch.Generator().manual_seed(1)
    if a.mode == "gen":
        state = [None] * len(lstms)
        toks = torch.randint(V, (1000,), generator=gen)

        def step(i):
            out = enc(toks[i % 1000].view(1, 1))
            for k, m in enumerate(lstms):
                out, state[k] = m(out, state[k])
            return dec(out)

        times = time_steps(step, a.reps or 200, a.seconds)
    else:
        toks = torch.randint(V, (a.tokens, 1), generator=gen)

        def score():
            out = enc(toks)
            for m in lstms:
                out, _ = m(out)
            return torch.log_softmax(dec(out), dim=-1)

        times = time_calls(score, a.tokens, a.reps or 5, a.seconds)
    csv_row(a.model, f"pytorch-{torch.__version__}", "torch.nn.LSTM", a.mode, a.threads, times, step_bytes, a.header)


if __name__ == "__main__":
    main()
