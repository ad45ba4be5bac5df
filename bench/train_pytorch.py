#!/usr/bin/python3
"""The PyTorch peer of `lstmc train` for benchmarks: the same .lstm spec (model and train block), the same
data layout and the same AWD-LSTM semantics as salesforce/awd-lstm-lm's main.py — embedding dropout,
locked dropout, weight-drop on W_hh (F.dropout of the raw weight, one mask per batch), AR/TAR, variable
BPTT with lr * seq_len / bptt, clip_grad_norm_, state carried between batches — on PyTorch's fused CPU
LSTM (torch._VF.lstm, what nn.LSTM calls).

    /usr/bin/python3 bench/train_pytorch.py SPEC --data TRAIN --valid VALID [--threads N]
        [--max-seconds S] [--max-steps N] [--epochs N]
        [--device cpu|cuda] [--precision float32|tf32|bfloat16] [--warmup N] [--fixed-bptt]

Prints one JSON line: tokens, seconds of training, tokens_per_s, steps, epochs, valid_bpc (eval_batch
streams, state carried, dropout off; BPC over all predictions, as lstmc).

On a GPU (--device cuda; bench/gpu/run_h100.sh) the LSTM is cuDNN's, through the same torch._VF.lstm:
--precision float32 turns TF32 off (cudnn.allow_tf32 and matmul.allow_tf32 False: what lstmc's fp32 is),
tf32 leaves PyTorch's defaults (cuDNN may use TF32 tensor cores), bfloat16 runs the step under
torch.autocast(bfloat16) with fp32 master weights. --warmup N steps are not timed (cuDNN's first calls),
--fixed-bptt makes every batch bptt long (for throughput against lstmc's fixed-length benchmark), and
each timed step ends with torch.cuda.synchronize(). Only what the benchmark specs
use is read from the spec: vocab chars|bytes, embed/dropout/lstm/decoder, and bptt, batch, eval_batch,
seed, clip, ar, tar, optimizer adam|sgd { lr; weight_decay; }.
"""

import argparse
import json
import math
import re
import sys
import time

import random as pyrandom

import torch

try:  # AWD-LSTM's main.py draws the sequence lengths with numpy; without it, Python's random (same law)
    import numpy as np
except ImportError:
    class np:
        class random:
            seed = staticmethod(pyrandom.seed)
            random = staticmethod(pyrandom.random)
            normal = staticmethod(pyrandom.gauss)
import torch.nn.functional as F


def parse_spec(path):
    text = re.sub(r"#.*", "", open(path).read())
    model = re.search(r"model\s+\w+\s*\{(.*?)\n\}", text, re.S).group(1)
    layers = []
    for m in re.finditer(r"(embed|dropout|lstm|decoder|vocab)\s+([^;{]*?)\s*(\{([^}]*)\})?\s*;?\s*(?=\n|$)", model):
        word, val, block = m.group(1), m.group(2).strip(), m.group(4) or ""
        if word == "vocab":
            layers.append(("vocab", val.split()[0]))
        elif word == "embed":
            p = re.search(r"dropout\s+([0-9.eE-]+)", block)
            layers.append(("embed", int(val), float(p.group(1)) if p else 0.0))
        elif word == "dropout":
            layers.append(("dropout", float(val)))
        elif word == "lstm":
            p = re.search(r"weight_drop\s+([0-9.eE-]+)", block)
            layers.append(("lstm", int(val), float(p.group(1)) if p else 0.0))
        elif word == "decoder":
            layers.append(("decoder", val == "tied"))
    train = {"bptt": 70, "batch": 32, "eval_batch": 1, "seed": 1, "clip": 0.25, "ar": 0.0, "tar": 0.0,
             "optimizer": "adam", "lr": 0.002, "weight_decay": 0.0}
    tb = re.search(r"train\s*\{(.*?)\n\}", text, re.S)
    if tb:
        body = tb.group(1)
        for k in ("bptt", "batch", "eval_batch", "seed"):
            m = re.search(r"\b%s\s+([0-9]+)" % k, body)
            if m:
                train[k] = int(m.group(1))
        for k in ("clip", "ar", "tar"):
            m = re.search(r"\b%s\s+([0-9.eE-]+)" % k, body)
            if m:
                train[k] = float(m.group(1))
        m = re.search(r"optimizer\s+(\w+)\s*\{([^}]*)\}", body)
        if m:
            train["optimizer"] = m.group(1)
            for k in ("lr", "weight_decay"):
                v = re.search(r"\b%s\s+([0-9.eE-]+)" % k, m.group(2))
                if v:
                    train[k] = float(v.group(1))
    return layers, train


class Model(torch.nn.Module):
    def __init__(self, layers, V):
        super().__init__()
        self.plan = []
        E = None
        dim = None
        self.lstms = torch.nn.ModuleList()
        for l in layers:
            if l[0] == "embed":
                E, dim = l[1], l[1]
                self.encoder = torch.nn.Embedding(V, E)
                self.encoder.weight.data.uniform_(-0.1, 0.1)
                self.plan.append(("embed", l[2]))
            elif l[0] == "dropout":
                self.plan.append(("dropout", l[1]))
            elif l[0] == "lstm":
                lstm = torch.nn.LSTM(dim, l[1])
                self.lstms.append(lstm)
                self.plan.append(("lstm", len(self.lstms) - 1, l[2]))
                dim = l[1]
            elif l[0] == "decoder":
                self.tied = l[1]
                if not self.tied:
                    self.decoder_weight = torch.nn.Parameter(torch.empty(V, dim).uniform_(-0.1, 0.1))
                self.decoder_bias = torch.nn.Parameter(torch.zeros(V))

    def forward(self, x, hidden, train, ar_beta):
        new_hidden, raw_last, out = [], None, None
        for step in self.plan:
            if step[0] == "embed":
                w = self.encoder.weight
                if train and step[1] > 0:
                    mask = w.new_empty((w.size(0), 1)).bernoulli_(1 - step[1]) / (1 - step[1])
                    w = mask * w
                out = F.embedding(x, w)
            elif step[0] == "dropout":
                if train and step[1] > 0:
                    m = out.new_empty(1, out.size(1), out.size(2)).bernoulli_(1 - step[1]) / (1 - step[1])
                    out = m * out
            elif step[0] == "lstm":
                lstm = self.lstms[step[1]]
                whh = lstm.weight_hh_l0
                if train and step[2] > 0:
                    whh = F.dropout(whh, p=step[2], training=True)
                h = hidden[step[1]]
                out, hh, cc = torch._VF.lstm(out, (h[0], h[1]), [lstm.weight_ih_l0, whh, lstm.bias_ih_l0, lstm.bias_hh_l0],
                                             True, 1, 0.0, train, False, False)
                new_hidden.append((hh, cc))
                raw_last = out
        dec_w = self.encoder.weight if self.tied else self.decoder_weight
        logits = out @ dec_w.t() + self.decoder_bias
        return logits, out, raw_last, new_hidden


def batchify(ids, B):
    n = len(ids) // B
    return torch.tensor(ids[:n * B], dtype=torch.long).view(B, n).t().contiguous()


def zero_state(model, B, device):
    return [(torch.zeros(1, B, l.hidden_size, device=device), torch.zeros(1, B, l.hidden_size, device=device))
            for l in model.lstms]


def evaluate(model, data, bptt, B):
    model.eval()
    hidden = zero_state(model, B, data.device)
    nll, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, data.size(0) - 1, bptt):
            T = min(bptt, data.size(0) - 1 - i)
            logits, _, _, hidden = model(data[i:i + T], hidden, False, None)
            nll += F.cross_entropy(logits.view(-1, logits.size(-1)), data[i + 1:i + 1 + T].reshape(-1), reduction="sum").item()
            count += T * B
    return nll / count / math.log(2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("spec")
    ap.add_argument("--data", required=True)
    ap.add_argument("--valid", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-seconds", type=float, default=0)
    ap.add_argument("--max-steps", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--precision", choices=("float32", "tf32", "bfloat16"), default="float32")
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--fixed-bptt", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    if a.device == "cuda":
        if not torch.cuda.is_available():
            sys.exit("train_pytorch.py: --device cuda, but torch.cuda.is_available() is False")
        tf32 = a.precision == "tf32"
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.benchmark = True
    sync = torch.cuda.synchronize if a.device == "cuda" else (lambda: None)
    layers, tr = parse_spec(a.spec)
    torch.manual_seed(tr["seed"])
    np.random.seed(tr["seed"])
    kind = [l for l in layers if l[0] == "vocab"][0][1]
    if kind == "bytes":
        train_text, valid_text = open(a.data, "rb").read(), open(a.valid, "rb").read()
        vocab = list(range(256))
        enc = list
    else:
        train_text = open(a.data, encoding="utf-8", errors="strict").read()
        valid_text = open(a.valid, encoding="utf-8").read()
        vocab = sorted(set(train_text + "\n" + valid_text))
        index = {c: i for i, c in enumerate(vocab)}
        enc = lambda s: [index[c] for c in s]
    V = len(vocab)
    model = Model([l for l in layers if l[0] != "vocab"], V).to(dev)
    params = list(model.parameters())
    if tr["optimizer"] == "adam":
        opt = torch.optim.Adam(params, lr=tr["lr"], weight_decay=tr["weight_decay"])
    else:
        opt = torch.optim.SGD(params, lr=tr["lr"], weight_decay=tr["weight_decay"])
    train = batchify(enc(train_text), tr["batch"]).to(dev)
    valid = batchify(enc(valid_text), tr["eval_batch"]).to(dev)
    amp = torch.autocast(device_type=a.device, dtype=torch.bfloat16, enabled=a.precision == "bfloat16")
    B, bptt = tr["batch"], tr["bptt"]
    steps, tokens, t_train, stop = 0, 0, 0.0, False
    epoch = 0
    for epoch in range(1, a.epochs + 1):
        model.train()
        hidden = zero_state(model, B, dev)
        i = 0
        while i < train.size(0) - 1 - 1:
            sync()
            t0 = time.time()
            bp = bptt if np.random.random() < 0.95 else bptt / 2.
            seq_len = max(5, int(np.random.normal(bp, 5)))
            if a.fixed_bptt:
                seq_len = bptt
            lr2 = opt.param_groups[0]["lr"]
            opt.param_groups[0]["lr"] = lr2 * seq_len / bptt
            T = min(seq_len, train.size(0) - 1 - i)
            x, y = train[i:i + T], train[i + 1:i + 1 + T]
            hidden = [(h.detach(), c.detach()) for h, c in hidden]
            opt.zero_grad()
            with amp:
                logits, out, raw, hidden = model(x, hidden, True, None)
                loss = F.cross_entropy(logits.view(-1, V).float(), y.reshape(-1))
                if tr["ar"]:
                    loss = loss + tr["ar"] * out.float().pow(2).mean()
                if tr["tar"]:
                    loss = loss + tr["tar"] * (raw[1:] - raw[:-1]).float().pow(2).mean()
            hidden = [(h.float(), c.float()) for h, c in hidden]
            loss.backward()
            if tr["clip"]:
                torch.nn.utils.clip_grad_norm_(params, tr["clip"])
            opt.step()
            opt.param_groups[0]["lr"] = lr2
            sync()
            i += seq_len
            if a.warmup > 0:
                a.warmup -= 1
                continue
            t_train += time.time() - t0
            tokens += T * B
            steps += 1
            if (a.max_steps and steps >= a.max_steps) or (a.max_seconds and t_train >= a.max_seconds):
                stop = True
                break
        if stop:
            break
    bpc = evaluate(model, valid, bptt, tr["eval_batch"])
    print(json.dumps({"tokens": tokens, "seconds": t_train, "tokens_per_s": tokens / t_train if t_train else 0,
                      "steps": steps, "epochs": epoch, "valid_bpc": bpc, "threads": a.threads,
                      "torch": torch.__version__, "device": a.device, "precision": a.precision,
                      "ms_per_step": 1e3 * t_train / steps if steps else 0}))


if __name__ == "__main__":
    sys.exit(main())
