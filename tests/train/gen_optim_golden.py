#!/usr/bin/python3
"""Golden updates for lstmc's ten optimizers: tests/train/golden/optim.safetensors.

Two float32 parameters (shapes [7, 5] and [13]) start from fixed values; for each configuration below the
optimizer takes STEPS steps with fixed float32 gradients, with the learning rate changed before every
step (as AWD-LSTM's sequence-length scaling does), and the parameters after every step are recorded.

  * sgd, momentum, nesterov, adagrad, adadelta, rmsprop, adam, adamax: torch.optim (1.13), single-tensor
    path (foreach=False), exactly as installed.
  * nadam: torch 1.13's single-tensor NAdam with the one-line fix PyTorch 2.0 made (pytorch#92699):
    mu_product_next = mu_product * mu_next (1.13 multiplies by mu a second time). lstmc follows the fix.
  * adabound: written here from the published rule (Luo, Xiong, Liu, Sun, ICLR 2019) as the authors'
    reference implementation (github.com/Luolc/AdaBound, adabound.py) computes it, in float32 tensors.

File contents:
  param.init.{i}          F32   the starting parameters
  grad.{s}.{i}            F32   the gradient of parameter i at step s
  {cfg}.step{s}.{i}       F32   parameter i after step s of configuration cfg
  metadata "lstmc.optim_golden": JSON list of {"name", "optimizer", "settings" {spec key: value},
                                  "lr": [lr of each step]}

Rerun from the repository root (deterministic; Debian's PyTorch, CPU):
    /usr/bin/python3 tests/train/gen_optim_golden.py
"""

import importlib.util
import json
import math
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("gen_golden", os.path.join(HERE, "..", "golden", "gen_golden.py"))
gen_golden = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen_golden)

STEPS = 6
SHAPES = [(7, 5), (13,)]
LR_FACTORS = [1.0, 0.5, 1.25, 0.9, 1.0, 0.7]  # the lr of step s is lr * LR_FACTORS[s]

# (name, optimizer, spec settings); "lr" is always given (the SGD family has no default)
CONFIGS = [
    ("sgd", "sgd", {"lr": 0.1}),
    ("sgd_wd_mom", "sgd", {"lr": 0.05, "weight_decay": 0.01, "momentum": 0.5}),
    ("momentum", "momentum", {"lr": 0.05}),
    ("nesterov", "nesterov", {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.001}),
    ("adagrad", "adagrad", {"lr": 0.1}),
    ("adagrad_opts", "adagrad", {"lr": 0.1, "lr_decay": 0.05, "initial_accumulator": 0.3, "eps": 1e-6,
                                 "weight_decay": 0.02}),
    ("adadelta", "adadelta", {"lr": 1.0}),
    ("adadelta_opts", "adadelta", {"lr": 0.5, "rho": 0.8, "eps": 1e-4, "weight_decay": 0.01}),
    ("rmsprop", "rmsprop", {"lr": 0.01}),
    ("rmsprop_mom", "rmsprop", {"lr": 0.01, "alpha": 0.9, "eps": 1e-6, "momentum": 0.7, "weight_decay": 0.01}),
    ("adam", "adam", {"lr": 0.01}),
    ("adam_opts", "adam", {"lr": 0.02, "beta1": 0.8, "beta2": 0.95, "eps": 1e-6, "weight_decay": 0.05}),
    ("adamax", "adamax", {"lr": 0.01, "weight_decay": 0.01}),
    ("nadam", "nadam", {"lr": 0.01}),
    ("nadam_opts", "nadam", {"lr": 0.02, "beta1": 0.85, "beta2": 0.99, "weight_decay": 0.01}),
    ("adabound", "adabound", {"lr": 0.01}),
    ("adabound_opts", "adabound", {"lr": 0.003, "final_lr": 0.05, "gamma": 0.1, "beta1": 0.8, "weight_decay": 0.01}),
]


def betas(s):
    return (s.get("beta1", 0.9), s.get("beta2", 0.999))


def torch_optimizer(kind, s, params):
    wd = s.get("weight_decay", 0.0)
    if kind in ("sgd", "momentum", "nesterov"):
        mom = s.get("momentum", 0.0 if kind == "sgd" else 0.9)
        return torch.optim.SGD(params, lr=s["lr"], momentum=mom, weight_decay=wd, nesterov=kind == "nesterov",
                               foreach=False)
    if kind == "adagrad":
        return torch.optim.Adagrad(params, lr=s["lr"], lr_decay=s.get("lr_decay", 0.0), weight_decay=wd,
                                   initial_accumulator_value=s.get("initial_accumulator", 0.0),
                                   eps=s.get("eps", 1e-10), foreach=False)
    if kind == "adadelta":
        return torch.optim.Adadelta(params, lr=s["lr"], rho=s.get("rho", 0.9), eps=s.get("eps", 1e-6),
                                    weight_decay=wd, foreach=False)
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=s["lr"], alpha=s.get("alpha", 0.99), eps=s.get("eps", 1e-8),
                                   weight_decay=wd, momentum=s.get("momentum", 0.0), foreach=False)
    if kind == "adam":
        return torch.optim.Adam(params, lr=s["lr"], betas=betas(s), eps=s.get("eps", 1e-8), weight_decay=wd,
                                foreach=False)
    if kind == "adamax":
        return torch.optim.Adamax(params, lr=s["lr"], betas=betas(s), eps=s.get("eps", 1e-8), weight_decay=wd,
                                  foreach=False)
    return None


class NAdamFixed:
    """torch 1.13's _single_tensor_nadam, with mu_product_next = mu_product * mu_next (PyTorch 2.0)."""

    def __init__(self, params, s):
        self.params = params
        self.lr = s["lr"]
        self.b1, self.b2 = betas(s)
        self.eps = s.get("eps", 1e-8)
        self.wd = s.get("weight_decay", 0.0)
        self.md = 0.004
        self.state = [dict(step=torch.tensor(0.), mu_product=torch.tensor(1.), exp_avg=torch.zeros_like(p),
                           exp_avg_sq=torch.zeros_like(p)) for p in params]

    @torch.no_grad()
    def step(self):
        for p, st in zip(self.params, self.state):
            grad = p.grad
            st["step"] += 1
            step = st["step"].item()
            bias_correction2 = 1 - self.b2 ** step
            if self.wd != 0:
                grad = grad.add(p, alpha=self.wd)
            mu = self.b1 * (1. - 0.5 * (0.96 ** (step * self.md)))
            mu_next = self.b1 * (1. - 0.5 * (0.96 ** ((step + 1) * self.md)))
            st["mu_product"] *= mu
            mu_product_next = st["mu_product"].item() * mu_next
            st["exp_avg"].mul_(self.b1).add_(grad, alpha=1 - self.b1)
            st["exp_avg_sq"].mul_(self.b2).addcmul_(grad, grad, value=1 - self.b2)
            denom = st["exp_avg_sq"].div(bias_correction2).sqrt().add_(self.eps)
            p.addcdiv_(grad, denom, value=-self.lr * (1. - mu) / (1. - st["mu_product"].item()))
            p.addcdiv_(st["exp_avg"], denom, value=-self.lr * mu_next / (1. - mu_product_next))


class AdaBoundReference:
    """AdaBound as published (Luo et al. 2019) and as the authors' adabound.py computes it."""

    def __init__(self, params, s):
        self.params = params
        self.lr = self.base_lr = s["lr"]
        self.b1, self.b2 = betas(s)
        self.final_lr = s.get("final_lr", 0.1)
        self.gamma = s.get("gamma", 1e-3)
        self.eps = s.get("eps", 1e-8)
        self.wd = s.get("weight_decay", 0.0)
        self.state = [dict(step=0, exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p)) for p in params]

    @torch.no_grad()
    def step(self):
        for p, st in zip(self.params, self.state):
            grad = p.grad
            if self.wd != 0:
                grad = grad.add(p, alpha=self.wd)
            st["step"] += 1
            t = st["step"]
            st["exp_avg"].mul_(self.b1).add_(grad, alpha=1 - self.b1)
            st["exp_avg_sq"].mul_(self.b2).addcmul_(grad, grad, value=1 - self.b2)
            denom = st["exp_avg_sq"].sqrt().add_(self.eps)
            bias_correction1 = 1 - self.b1 ** t
            bias_correction2 = 1 - self.b2 ** t
            step_size = self.lr * math.sqrt(bias_correction2) / bias_correction1
            final_lr = self.final_lr * self.lr / self.base_lr
            lower_bound = final_lr * (1 - 1 / (self.gamma * t + 1))
            upper_bound = final_lr * (1 + 1 / (self.gamma * t))
            step_size = torch.full_like(denom, step_size)
            step_size.div_(denom).clamp_(lower_bound, upper_bound).mul_(st["exp_avg"])
            p.add_(-step_size)


def main():
    torch.manual_seed(7)
    torch.set_num_threads(1)
    init = [torch.randn(*s, dtype=torch.float32) * 0.5 for s in SHAPES]
    grads = [[torch.randn(*s, dtype=torch.float32) * (0.3 + 0.2 * k) for s in SHAPES] for k in range(STEPS)]
    grads[2][0][1, 2] = 0.0  # a zero gradient element
    tensors = [("param.init.%d" % i, t) for i, t in enumerate(init)]
    for k in range(STEPS):
        tensors += [("grad.%d.%d" % (k, i), g) for i, g in enumerate(grads[k])]
    meta = []
    for name, kind, s in CONFIGS:
        params = [torch.nn.Parameter(t.clone()) for t in init]
        opt = torch_optimizer(kind, s, params)
        if kind == "nadam":
            opt = NAdamFixed(params, s)
        elif kind == "adabound":
            opt = AdaBoundReference(params, s)
        lrs = []
        for k in range(STEPS):
            lr = s["lr"] * LR_FACTORS[k]
            lrs.append(lr)
            if isinstance(opt, torch.optim.Optimizer):
                opt.param_groups[0]["lr"] = lr
            else:
                opt.lr = lr
            for p, g in zip(params, grads[k]):
                p.grad = g.clone()
            opt.step()
            tensors += [("%s.step%d.%d" % (name, k, i), p.detach().clone()) for i, p in enumerate(params)]
        meta.append({"name": name, "optimizer": kind, "settings": s, "lr": lrs})
    os.makedirs(os.path.join(HERE, "golden"), exist_ok=True)
    path = os.path.join(HERE, "golden", "optim.safetensors")
    gen_golden.write_safetensors(path, tensors, {"lstmc.optim_golden": json.dumps(meta),
                                                 "torch_version": torch.__version__})
    print("wrote %s: %d configurations, %d steps" % (path, len(CONFIGS), STEPS))


if __name__ == "__main__":
    main()
