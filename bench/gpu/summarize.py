#!/usr/bin/env python3
"""Folds results.json (bench_cuda and cudnn_lstm.py lines, tagged by run_h100.sh) into one table:
per model, lstmc in each weight format beside cuDNN in each dtype, µs per character (median), and the
targets of issue 6."""
import json
import sys

TARGETS = {("charptb", "generate"): 6.0, ("charptb", "score"): 3.0, ("enwik8", "score"): 8.0}


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    get = {}
    for r in rows:
        fmt = r.get("format") or r.get("dtype")
        get[(r["impl"], r["label"], fmt, r["what"])] = r["median"]
    models = sorted({r["label"] for r in rows})
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
