#!/usr/bin/env python3
"""Folds results.json (lines tagged by run_h100.sh with "impl" and "kind") into tables:
- inference (bench_cuda, cudnn_lstm.py): per model, lstmc in each weight format beside cuDNN in each
  dtype, µs per character (median), and the targets of issue 6;
- training (bench_train_cuda, train_pytorch.py --device cuda): PTB-char shape, ms per step and chars/s of
  lstmc (f32, bf16) beside PyTorch/cuDNN (float32 with TF32 off, PyTorch's default TF32, bfloat16), the
  pass schedule's share of an epoch, and the targets of issue 14."""
import json
import sys

TARGETS = {("charptb", "generate"): 6.0, ("charptb", "score"): 3.0, ("enwik8", "score"): 8.0}


def training(rows):
    rows = [r for r in rows if r.get("kind") == "train"]
    if not rows:
        return
    get = {(r["impl"], r["precision"], r["what"]): r["median"] for r in rows}
    print("\n| training, PTB-char shape (128 x 150, Adam) | ms/step | chars/s | vs cuDNN fp32 (TF32 off) | vs cuDNN default (TF32) |")
    print("| --- | --- | --- | --- | --- |")
    base = get.get(("cudnn", "float32", "train_chars_per_s"))
    tf32 = get.get(("cudnn", "tf32", "train_chars_per_s"))
    for impl, prec in (("lstmc", "f32"), ("lstmc", "bf16"), ("cudnn", "float32"), ("cudnn", "tf32"), ("cudnn", "bfloat16")):
        ms, cps = get.get((impl, prec, "train_step")), get.get((impl, prec, "train_chars_per_s"))
        if ms is None and cps is None:
            continue
        f = lambda x, nd: "—" if x is None else f"{x:.{nd}f}"
        r1 = f"{cps / base:.2f}x" if cps and base else "—"
        r2 = f"{cps / tf32:.2f}x" if cps and tf32 else "—"
        print(f"| {impl} {prec} | {f(ms, 2)} | {f(cps, 0)} | {r1} | {r2} |")
    frac, secs = get.get(("lstmc", "f32", "pass_fraction")), get.get(("lstmc", "f32", "pass_seconds"))
    print("\ntargets (issue 14):")
    f32, bf16 = get.get(("lstmc", "f32", "train_chars_per_s")), get.get(("lstmc", "bf16", "train_chars_per_s"))
    def verdict(x, t):
        return "—" if x is None else ("MET" if x >= t else "not met")
    print(f"  fp32 >= 1.0x cuDNN fp32 chars/s: {f'{f32 / base:.2f}x' if f32 and base else '—'} -> "
          f"{verdict(f32 / base if f32 and base else None, 1.0)}")
    print(f"  bf16 >= 2x cuDNN fp32 chars/s: {f'{bf16 / base:.2f}x' if bf16 and base else '—'} -> "
          f"{verdict(bf16 / base if bf16 and base else None, 2.0)}")
    if frac is not None:
        print(f"  pass schedule <= 5% of an epoch: {secs:.2f} s, {100 * frac:.2f}% -> {'MET' if frac <= 0.05 else 'not met'}")


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    training(rows)
    rows = [r for r in rows if r.get("kind", "infer") == "infer"]
    get = {}
    for r in rows:
        fmt = r.get("format") or r.get("dtype")
        get[(r["impl"], r["label"], fmt, r["what"])] = r["median"]
    models = sorted({r["label"] for r in rows})
    if not models:
        return
    print("\n| model | implementation | score µs/char | generate µs/char | step b1 µs | step b8 µs/token | compile cold / warm ms |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for m in models:
        for impl, fmts in (("lstmc", ("dense_bf16", "dense_f32", "q8")), ("cudnn", ("float32", "bfloat16"))):
            for f in fmts:
                def v(what, nd=2):
                    x = get.get((impl, m, f, what))
                    return "—" if x is None else f"{x:.{nd}f}"
                if impl == "lstmc":
                    gen, extra = v("generate"), f"{v('compile_cold', 0)} / {v('compile_warm', 1)}"
                    step1, step8 = v("step_b1"), v("step_b8")
                else:
                    gen = f"{v('generate_graph')} (graph), {v('generate_eager')} (eager)"
                    extra, step1, step8 = "—", "—", "—"
                print(f"| {m} | {impl} {f} | {v('score')} | {gen} | {step1} | {step8} | {extra} |")
    print("\ntargets (issue 6): " + ", ".join(f"{m} {w} <= {t} us/char" for (m, w), t in TARGETS.items()) +
          "; NVRTC cold <= 2000 ms, warm <= 50 ms")
    for (m, w), t in TARGETS.items():
        best = [get[k] for k in get if k[0] == "lstmc" and k[1] == m and k[3] == w]
        if best:
            print(f"  {m} {w}: best lstmc {min(best):.2f} us/char -> {'MET' if min(best) <= t else 'not met'}")


if __name__ == "__main__":
    main(sys.argv[1])
