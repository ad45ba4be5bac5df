#!/usr/bin/python3
"""Golden AWD-LSTM training steps for lstmc: tests/train/golden/step_{sgd,adam}.safetensors.

A small AWD-LSTM-style model takes two consecutive truncated-BPTT batches with PyTorch (1.13, CPU,
float32), exactly as salesforce/awd-lstm-lm's main.py trains:

  * embedding dropout: the encoder weight times a per-row mask (0 or 1/(1-p)), as embedded_dropout();
  * locked dropout at each `dropout` point: x * mask[b, f], the same mask for every step (LockedDropout);
  * weight-drop: W_hh * mask (0 or 1/(1-p)) element-wise, one mask per batch for every step. The mask is
    written explicitly instead of going through AWD-LSTM's WeightDrop module (broken on newer PyTorch);
  * the LSTM recurrence is a hand-written loop of torch ops (gates i, f, g, o as nn.LSTM), checked
    against nn.LSTM with the same (dropped) weights to 1e-6 below;
  * loss = mean cross-entropy + alpha * mean(dropped last output ^ 2) + beta * mean((h_t - h_{t-1})^2)
    of the last LSTM's raw output (AR / TAR); then clip_grad_norm_(params, clip) and one optimizer step
    with lr * seq_len / bptt (AWD-LSTM's scaling);
  * the state (h, c) of every layer is carried from the first batch into the second, detached.

Every mask is drawn here and stored in the file, so lstmc runs the same function of the same numbers.

File contents (float32 unless noted):
  init.<weight name>            the starting weights (PyTorch names)
  tokens                 I32    the batched stream [(T1 + T2 + 1) * B], time-major: tokens[t * B + b]
  mask.<s>.embed                [V]        row scales of batch s
  mask.<s>.dropout.<k>          [B * F]    locked-dropout mask of the k-th dropout node
  mask.<s>.weight_drop.<l>      [4H * H]   weight-drop mask of LSTM layer l
  loss.<s>               F64    [3]        mean cross-entropy, AR, TAR of batch s
  grad.0.<weight name>          the gradient of batch 0, before clipping
  after.<s>.<weight name>       the weights after the step of batch s
  metadata "lstmc.step_golden": JSON {spec, V, B, bptt, seq_len: [T1, T2], lr, clip, ar, tar, optimizer}

Rerun from the repository root (deterministic; Debian's PyTorch, CPU):
    /usr/bin/python3 tests/train/gen_step_golden.py
"""

import importlib.util
import json
import os

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("gen_golden", os.path.join(HERE, "..", "golden", "gen_golden.py"))
gen_golden = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen_golden)

V, B, BPTT = 23, 3, 6
SEQ = [7, 5]  # the two batches' lengths (the first longer than bptt, as AWD-LSTM's draw allows)

CASES = {
    "sgd": dict(tied=True, E=12, hidden=[20, 12], embed_p=0.2, drop=[0.3, 0.25, 0.2], wdrop=[0.4, 0.3],
                optimizer="sgd", settings={"lr": 2.0}, clip=0.25, ar=2.0, tar=1.0),
    "adam": dict(tied=False, E=10, hidden=[16, 14], embed_p=0.1, drop=[0.2, 0.3, 0.15], wdrop=[0.5, 0.2],
                 optimizer="adam", settings={"lr": 0.01, "weight_decay": 0.01, "beta2": 0.99}, clip=0.5, ar=1.0,
                 tar=2.0),
}


def spec_text(c):
    lines = ["model golden {", "    vocab chars;", "    embed %d { dropout %g; }" % (c["E"], c["embed_p"]),
             "    dropout %g;" % c["drop"][0]]
    for l, H in enumerate(c["hidden"]):
        lines.append("    lstm %d { weight_drop %g; }" % (H, c["wdrop"][l]))
        lines.append("    dropout %g;" % c["drop"][l + 1])
    lines.append("    decoder %s;" % ("tied" if c["tied"] else "untied"))
    lines.append("}")
    return "\n".join(lines) + "\n"


def init_weights(c, gen):
    w = {}
    E = c["E"]
    w["encoder.weight"] = (torch.rand(V, E, generator=gen) * 2 - 1) * 0.5
    I = E
    for l, H in enumerate(c["hidden"]):
        k = 1.5 / H ** 0.5
        w["rnns.%d.weight_ih_l0" % l] = (torch.rand(4 * H, I, generator=gen) * 2 - 1) * k
        w["rnns.%d.weight_hh_l0" % l] = (torch.rand(4 * H, H, generator=gen) * 2 - 1) * k
        w["rnns.%d.bias_ih_l0" % l] = (torch.rand(4 * H, generator=gen) * 2 - 1) * k
        w["rnns.%d.bias_hh_l0" % l] = (torch.rand(4 * H, generator=gen) * 2 - 1) * k
        I = H
    if not c["tied"]:
        w["decoder.weight"] = (torch.rand(V, I, generator=gen) * 2 - 1) * 0.3
    w["decoder.bias"] = (torch.rand(V, generator=gen) * 2 - 1) * 0.2
    return w


def bern(shape, p, gen):
    return (torch.rand(*shape, generator=gen) >= p).float() / (1 - p)


def draw_masks(c, gen):
    m = {"embed": bern((V,), c["embed_p"], gen)}
    dims = [c["E"]] + c["hidden"]
    for k, p in enumerate(c["drop"]):
        m["dropout.%d" % k] = bern((B, dims[k]), p, gen)
    for l, H in enumerate(c["hidden"]):
        m["weight_drop.%d" % l] = bern((4 * H, H), c["wdrop"][l], gen)
    return m


def lstm_loop(x, Wih, Whh, bih, bhh, h, c):
    outs = []
    for t in range(x.shape[0]):
        z = x[t] @ Wih.t() + bih + h @ Whh.t() + bhh
        i, f, g, o = z.chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        outs.append(h)
    return torch.stack(outs), h, c


def forward(c, w, x, hidden, m):
    emb = w["encoder.weight"] * m["embed"][:, None]
    X = F.embedding(x, emb) * m["dropout.0"][None]
    new_hidden, raw = [], None
    for l, H in enumerate(c["hidden"]):
        Whh = w["rnns.%d.weight_hh_l0" % l] * m["weight_drop.%d" % l]
        raw, h, cc = lstm_loop(X, w["rnns.%d.weight_ih_l0" % l], Whh, w["rnns.%d.bias_ih_l0" % l],
                               w["rnns.%d.bias_hh_l0" % l], hidden[l][0], hidden[l][1])
        # the hand-written loop is nn.LSTM
        ref = torch.nn.LSTM(X.shape[2], H)
        with torch.no_grad():
            ref.weight_ih_l0.copy_(w["rnns.%d.weight_ih_l0" % l])
            ref.weight_hh_l0.copy_(Whh)
            ref.bias_ih_l0.copy_(w["rnns.%d.bias_ih_l0" % l])
            ref.bias_hh_l0.copy_(w["rnns.%d.bias_hh_l0" % l])
            out_ref, _ = ref(X.detach(), (hidden[l][0].detach()[None], hidden[l][1].detach()[None]))
            assert (out_ref - raw.detach()).abs().max().item() < 1e-6
        new_hidden.append((h, cc))
        X = raw * m["dropout.%d" % (l + 1)][None]
    dec_w = w["encoder.weight"] if c["tied"] else w["decoder.weight"]
    logits = X @ dec_w.t() + w["decoder.bias"]
    return logits, X, raw, new_hidden


def make_optimizer(c, params):
    s = c["settings"]
    if c["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=s["lr"], foreach=False)
    return torch.optim.Adam(params, lr=s["lr"], weight_decay=s.get("weight_decay", 0), betas=(0.9, s.get("beta2", 0.999)),
                            foreach=False)


def gen(name, c, seed):
    gen_w = torch.Generator().manual_seed(seed)
    w = {k: torch.nn.Parameter(v) for k, v in init_weights(c, gen_w).items()}
    tensors = [("init." + k, v.detach().clone()) for k, v in w.items()]
    T = sum(SEQ) + 1
    tokens = torch.randint(0, V, (T, B), generator=gen_w, dtype=torch.int32)
    tensors.append(("tokens", tokens.reshape(-1).clone()))
    params = list(w.values())
    opt = make_optimizer(c, params)
    base_lr = c["settings"]["lr"]
    hidden = [(torch.zeros(B, H), torch.zeros(B, H)) for H in c["hidden"]]
    pos = 0
    for s, L in enumerate(SEQ):
        m = draw_masks(c, gen_w)
        for k, v in m.items():
            tensors.append(("mask.%d.%s" % (s, k), v.reshape(-1).clone()))
        x = tokens[pos:pos + L].long()
        y = tokens[pos + 1:pos + 1 + L].long()
        hidden = [(h.detach(), cc.detach()) for h, cc in hidden]
        opt.zero_grad()
        logits, out, raw, hidden = forward(c, w, x, hidden, m)
        nll = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        ar = c["ar"] * out.pow(2).mean()
        tar = c["tar"] * (raw[1:] - raw[:-1]).pow(2).mean()
        loss = nll + ar + tar
        loss.backward()
        tensors.append(("loss.%d" % s, torch.tensor([nll.item(), ar.item(), tar.item()], dtype=torch.float64)))
        if s == 0:
            tensors += [("grad.0." + k, v.grad.detach().clone()) for k, v in w.items()]
        torch.nn.utils.clip_grad_norm_(params, c["clip"])
        opt.param_groups[0]["lr"] = base_lr * L / BPTT
        opt.step()
        opt.param_groups[0]["lr"] = base_lr
        tensors += [("after.%d.%s" % (s, k), v.detach().clone()) for k, v in w.items()]
        pos += L
    meta = {"spec": spec_text(c), "V": V, "B": B, "bptt": BPTT, "seq_len": SEQ, "clip": c["clip"], "ar": c["ar"],
            "tar": c["tar"], "optimizer": c["optimizer"], "settings": c["settings"]}
    os.makedirs(os.path.join(HERE, "golden"), exist_ok=True)
    path = os.path.join(HERE, "golden", "step_%s.safetensors" % name)
    gen_golden.write_safetensors(path, tensors, {"lstmc.step_golden": json.dumps(meta),
                                                 "torch_version": torch.__version__})
    print("wrote %s: %d tensors, losses %s" % (path, len(tensors),
                                              [round(t.tolist()[0], 6) for n, t in tensors if n.startswith("loss.")]))


def main():
    torch.set_num_threads(1)
    gen("sgd", CASES["sgd"], 11)
    gen("adam", CASES["adam"], 12)


if __name__ == "__main__":
    main()
