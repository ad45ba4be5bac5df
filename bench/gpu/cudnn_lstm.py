#!/usr/bin/env python3
"""The peer: cuDNN's LSTM (through PyTorch) on the shapes of lstmc's example models, timed the way
bench_cuda times lstmc, in the same run on the same GPU.

Models (AWD-LSTM stacks of single-layer nn.LSTM, tied decoder, batch 1):
  charptb  E 200, H 1000 1000 200, V 50      enwik8  E 400, H 1840 1840 400, V 256

Measurements (CUDA events, median of --reps after warm-up; random weights and inputs, never zeros):
  score            one forward pass over --tokens tokens (embedding, 3 cuDNN LSTM layers over the whole
                   sequence, decoder, log-softmax, gather), µs per token
  generate_graph   one generation step (embedding, the 3 layers for one token, decoder, softmax,
                   torch.multinomial feeding the next input) captured in a CUDA graph and replayed, µs per token
  generate_eager   the same step without the graph, µs per token

Prints a table and one JSON object per measurement (lines starting with '{').
--device cpu runs the same code on the CPU (a smoke test of the script; its timings mean nothing)."""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn

MODELS = {
    "charptb": dict(E=200, H=[1000, 1000, 200], V=50),
    "enwik8": dict(E=400, H=[1840, 1840, 400], V=256),
}


class Stack(nn.Module):
    def __init__(self, E, H, V):
        super().__init__()
        self.enc = nn.Embedding(V, E)
        sizes = [E] + H
        self.rnns = nn.ModuleList(nn.LSTM(sizes[i], sizes[i + 1]) for i in range(len(H)))
        self.dec = nn.Linear(H[-1], V)
        if H[-1] == E:
            self.dec.weight = self.enc.weight  # tied, as the examples are

    def forward(self, x, state):
        h = self.enc(x)
        new = []
        for rnn, s in zip(self.rnns, state):
            h, s2 = rnn(h, s)
            new.append(s2)
        return self.dec(h), new


def timer(device):
    if device == "cuda":
        def run(fn, reps, warmup):
            for _ in range(warmup):
                fn()
            torch.cuda.synchronize()
            times = []
            for _ in range(reps):
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                fn()
                b.record()
                b.synchronize()
                times.append(a.elapsed_time(b) * 1e-3)
            return times
    else:
        def run(fn, reps, warmup):
            for _ in range(warmup):
                fn()
            times = []
            for _ in range(reps):
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
            return times
    return run


def report(rows, label, dtype, what, per_token):
    med = statistics.median(per_token)
    row = dict(label=label, dtype=dtype, what=what, median=med * 1e6, unit="us/token", min=min(per_token) * 1e6,
               max=max(per_token) * 1e6, reps=len(per_token))
    rows.append(row)
    print(f"{label:8} {dtype:5} {what:15} {med * 1e6:10.2f} us/token  (min {row['min']:.2f}, max {row['max']:.2f}, {len(per_token)} reps)")
    print(json.dumps(row))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="charptb,enwik8")
    ap.add_argument("--dtypes", default="float32,bfloat16")
    ap.add_argument("--tokens", type=int, default=2000)
    ap.add_argument("--gen-tokens", type=int, default=500)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--device", default="cuda")
    a = ap.parse_args()
    dev = a.device
    run = timer(dev)
    if dev == "cuda":
        torch.backends.cudnn.enabled = True
        torch.backends.cuda.matmul.allow_tf32 = False  # lstmc computes in plain fp32
        torch.backends.cudnn.allow_tf32 = False
        print(f"torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, {torch.cuda.get_device_name()}")
    rows = []
    torch.manual_seed(0)
    for name in a.models.split(","):
        cfg = MODELS[name]
        for dname in a.dtypes.split(","):
            dtype = getattr(torch, dname)
            try:
                model = Stack(cfg["E"], cfg["H"], cfg["V"]).to(dev, dtype).eval()
            except Exception as ex:  # a dtype the build lacks: say so, go on
                print(f"{name} {dname}: skipped ({ex})")
                continue
            state0 = [(torch.zeros(1, 1, h, device=dev, dtype=dtype), torch.zeros(1, 1, h, device=dev, dtype=dtype))
                      for h in cfg["H"]]
            x = torch.randint(cfg["V"], (a.tokens, 1), device=dev)

            with torch.no_grad():
                def score():
                    logits, _ = model(x[:-1], state0)
                    lp = torch.log_softmax(logits.float(), -1)
                    return lp.gather(-1, x[1:].unsqueeze(-1)).sum()
                try:
                    t = run(score, a.reps, 2)
                    report(rows, name, dname, "score", [s / (a.tokens - 1) for s in t])
                except Exception as ex:
                    print(f"{name} {dname} score: failed ({ex})")

                # one generation step on static buffers, so that it can be captured in a graph
                tok = torch.zeros(1, 1, dtype=torch.long, device=dev)
                state = [(h.clone(), c.clone()) for h, c in state0]

                def gen_step():
                    logits, new = model(tok, state)
                    for (h, c), (h2, c2) in zip(state, new):
                        h.copy_(h2)
                        c.copy_(c2)
                    probs = torch.softmax(logits[0, 0].float(), -1)
                    tok.copy_(torch.multinomial(probs, 1).view(1, 1))

                n = a.gen_tokens

                def eager():
                    for _ in range(n):
                        gen_step()
                try:
                    t = run(eager, max(1, a.reps // 2), 1)
                    report(rows, name, dname, "generate_eager", [s / n for s in t])
                except Exception as ex:
                    print(f"{name} {dname} generate_eager: failed ({ex})")
                if dev == "cuda":
                    try:
                        s = torch.cuda.Stream()
                        s.wait_stream(torch.cuda.current_stream())
                        with torch.cuda.stream(s):
                            for _ in range(3):
                                gen_step()
                        torch.cuda.current_stream().wait_stream(s)
                        graph = torch.cuda.CUDAGraph()
                        with torch.cuda.graph(graph):
                            gen_step()

                        def replay():
                            for _ in range(n):
                                graph.replay()
                        t = run(replay, a.reps, 1)
                        report(rows, name, dname, "generate_graph", [s / n for s in t])
                    except Exception as ex:
                        print(f"{name} {dname} generate_graph: failed ({ex})")
    return rows


if __name__ == "__main__":
    main()
