"""What the Python peers of `lstmc bench` share (bench/torch_lstm.py, bench/ort_lstm.py): the timing loops
of the two modes and the CSV row with the columns of `lstmc bench -o csv`. Plain Python, so that both the
system's interpreter and the ONNX Runtime virtual environment import it."""

import statistics
import time

COLUMNS = ("model,target,executor,mode,batch,threads,reps,median_us,p90_us,p99_us,us_per_token,"
           "tokens_per_s,step_bytes,gb_per_s")


def time_steps(step, reps, seconds):
    """gen: step(i) for i = 0, 1, ... after 20 warm-up steps, at least `reps` timed and `seconds` long."""
    for i in range(20):
        step(i)
    times = []
    start = time.perf_counter()
    i = 0
    while len(times) < reps or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        step(i)
        times.append(time.perf_counter() - t0)
        i += 1
    return times


def time_calls(call, tokens, reps, seconds):
    """score: call() over `tokens` tokens after one warm-up, time per token (tokens - 1 predictions)."""
    call()
    times = []
    start = time.perf_counter()
    while len(times) < reps or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) / (tokens - 1))
    return times


def quantile(v, q):
    k = max(0, min(len(v) - 1, int(-(-q * len(v) // 1)) - 1))
    return v[k]


def csv_row(model, target, executor, mode, threads, times, step_bytes, header=False):
    """Prints the row (and the header first with header)."""
    times = sorted(times)
    med = statistics.median(times)
    if header:
        print(COLUMNS)
    print(f"{model},{target},{executor},{mode},1,{threads},{len(times)},{med * 1e6:.3f},{quantile(times, 0.9) * 1e6:.3f},"
          f"{quantile(times, 0.99) * 1e6:.3f},{med * 1e6:.3f},{1 / med:.1f},{step_bytes},{step_bytes / med / 1e9:.2f}", flush=True)
