"""ONNX Runtime as the peer of `lstmc bench` (CPU execution provider), run by bench/run.sh with the Python of
the virtual environment it makes (onnxruntime and onnx from PyPI; never a build dependency).

    python bench/ort_lstm.py --quantize IN.onnx OUT.onnx
        onnxruntime.quantization.quantize_dynamic with its defaults: int8 weights (QInt8), activations
        quantized on the fly (the LSTM becomes DynamicQuantizeLSTM, the decoder MatMulInteger)
    python bench/ort_lstm.py MODEL.onnx --label fp32|int8 --threads N [--mode gen|score] [--tokens N]
                             [--seconds S] [--reps R] [--model NAME] [--header]

MODEL is bench/peer_models.py's export (tokens [T, 1], each layer's h0/c0 in, log-probabilities and the
new states out). gen: one step per repetition (T = 1, the state fed back), random tokens, after 20 warm-up
steps; score: one call over --tokens tokens from a zero state, time per token. The session runs
intra_op_num_threads = N, inter_op_num_threads = 1, all graph optimizations, sequential execution. Prints
one CSV row with the columns of `lstmc bench -o csv` (the header too with --header); step_bytes counts the
weights one step reads as stored (every initializer, but only one row of the embedding table).
"""

import argparse
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_rows import csv_row, time_calls, time_steps  # noqa: E402

def quantize(src, dst):
    from onnxruntime.quantization import QuantType, quantize_dynamic
    quantize_dynamic(src, dst, weight_type=QuantType.QInt8)


def step_bytes(path):
    import onnx
    from onnx import numpy_helper
    m = onnx.load(path)
    gathered = {n.input[0] for n in m.graph.node if n.op_type == "Gather"}
    total = 0
    for init in m.graph.initializer:
        a = numpy_helper.to_array(init)
        total += a.itemsize * (a.shape[-1] if init.name in gathered and a.ndim == 2 else a.size)
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", nargs="?")
    ap.add_argument("--quantize", nargs=2, metavar=("IN", "OUT"))
    ap.add_argument("--label", default="fp32")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--mode", choices=("gen", "score"), default="gen")
    ap.add_argument("--tokens", type=int, default=1024)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--reps", type=int, default=0)
    ap.add_argument("--name", default="model")
    ap.add_argument("--header", action="store_true")
    a = ap.parse_args()
    if a.quantize:
        quantize(*a.quantize)
        return
    if not a.model:
        ap.error("a model is needed")
    import numpy as np
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    ins = sess.get_inputs()
    V = sess.get_outputs()[0].shape[-1]
    zero = {i.name: np.zeros(i.shape, dtype=np.float32) for i in ins[1:]}
    rng = random.Random(1)
    if a.mode == "gen":
        toks = [np.array([[rng.randrange(V)]], dtype=np.int64) for _ in range(1000)]
        state = dict(zero)
        names = [i.name for i in ins[1:]]

        def step(i):
            outs = sess.run(None, {"tokens": toks[i % 1000], **state})
            for k, n in enumerate(names):
                state[n] = outs[1 + k]

        times = time_steps(step, a.reps or 200, a.seconds)
    else:
        toks = np.array([[rng.randrange(V)] for _ in range(a.tokens)], dtype=np.int64)
        feed = {"tokens": toks, **zero}
        times = time_calls(lambda: sess.run(None, feed), a.tokens, a.reps or 5, a.seconds)
    csv_row(a.name, f"onnxruntime-{ort.__version__}", f"ort-{a.label}", a.mode, a.threads, times, step_bytes(a.model), a.header)


if __name__ == "__main__":
    main()
