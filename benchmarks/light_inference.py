"""The light path vs onnxruntime on the plain graph vs the TensorFlow path.

    .venv/bin/python benchmarks/light_inference.py [--weights DIR] [--sizes 256,512,1024,2048]

Three stylizers of one model, in one process, interleaved, median of --repeats: the light
path (`arbitrary_style.backends.light`: its graphs compute the final conv on pixel blocks),
onnxruntime on the plain tf2onnx conversion of the same Keras model (`plain-onnx`: what
any user converting the model gets), and the Keras model on TensorFlow. Wall and CPU time
per stylization, and the transformer's achieved GFLOP/s (FLOPs counted from the Keras
model's conv shapes) against this CPU's fp32 peak, derived and printed by `cpu_peak`, and
per CPU-second against one core's peak (what the work needs of the CPU: on a shared, busy
machine the wall time also counts the time other jobs hold the cores).
"""

import argparse
import os
import statistics
import tempfile
import time

import numpy as np

from arbitrary_style.backends import light, light_graphs
from arbitrary_style.layers import SlimConv2D
from arbitrary_style.weights import store



def cpu_peak():
    """(fp32 GFLOP/s, how it was derived) of the CPUs this process may use: cores x clock x
    FLOP per cycle, from /proc/cpuinfo. FLOP per cycle: two FMA units of the widest vector
    width the flags show (AVX-512: 2 x 16 x 2 = 64; AVX2 + FMA: 32), except AMD's Zen 4 (family 25),
    whose AVX-512 runs on two 256-bit units (32). The clock is the nominal one (the model
    name's GHz, else bogomips / 2); turbo can exceed it."""
    info = open("/proc/cpuinfo").read()
    field = lambda name: next(line.split(":", 1)[1].strip() for line in info.splitlines()
                              if line.startswith(name))  # noqa: E731
    flags, model, vendor = field("flags").split(), field("model name"), field("vendor_id")
    if "@" in model and "GHz" in model:
        ghz = float(model.split("@")[1].split("GHz")[0])
        clock = f"{ghz} GHz (model name)"
    else:
        ghz = float(field("bogomips")) / 2000
        clock = f"{ghz:.2f} GHz (bogomips / 2)"
    zen4 = vendor == "AuthenticAMD" and field("cpu family") == "25"
    if "avx512f" in flags and not zen4:
        per_cycle, unit = 64, "AVX-512, 2 FMA units"
    elif "avx512f" in flags:
        per_cycle, unit = 32, "AVX-512 on AMD Zen 4's 2 x 256-bit FMA units"
    elif "avx2" in flags and "fma" in flags:
        per_cycle, unit = 32, "AVX2, 2 FMA units"
    else:
        per_cycle, unit = 8, "SSE"
    cores = len(os.sched_getaffinity(0))
    peak = cores * ghz * per_cycle
    return peak, (f"{cores} cores x {clock} x {per_cycle} FLOP/cycle ({unit}; {model}) "
                  f"= {peak:.0f} GFLOP/s")


def transformer_flops(model, side):
    """Multiply-adds x 2 of every conv of the transformer on a side x side content."""
    flops, scale = 0, 1.0
    for layer in model.transformer._flatten_layers():
        if isinstance(layer, SlimConv2D):
            if layer.path.startswith("transformer/expand") and layer.path.endswith("/conv") \
                    and layer.kernel.shape[-1] != 3:
                scale *= 2  # UpsampleConv: nearest x2, then the conv.
            scale /= layer.strides[0]
            kh, kw, cin, cout = layer.kernel.shape
            flops += 2 * kh * kw * cin * cout * (side * scale) ** 2
    return flops


def timed(function):
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", default=None)
    parser.add_argument("--sizes", default="256,512,1024,2048")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    weights = store.resolve_weights(args.weights)
    model = store.load_model(weights)
    config = store.read_config(weights)[0]
    plain_dir = tempfile.mkdtemp(prefix="plain-onnx-")
    light_graphs.write_graphs(model, plain_dir, light=False)
    stylizers = {"light": light.build(weights, model).stylize,
                 "plain-onnx": light.LightModel(plain_dir, config).stylize,
                 "tensorflow": model.stylize}
    vector = np.random.default_rng(0).random(100, np.float32)
    peak, derivation = cpu_peak()
    print(f"fp32 peak: {derivation}")
    for side in map(int, args.sizes.split(",")):
        content = np.random.default_rng(side).random((side, side, 3), np.float32)
        runs = {name: [] for name in stylizers}
        for run in stylizers.values():
            run(content, vector)  # warm-up
        for _ in range(args.repeats):
            for name, run in stylizers.items():
                runs[name].append(timed(lambda run=run: run(content, vector)))
        flops = transformer_flops(model, side)
        for name, samples in runs.items():
            wall = statistics.median(s[0] for s in samples)
            cpu = statistics.median(s[1] for s in samples)
            per_core = peak / len(os.sched_getaffinity(0))
            print(f"{side:5d} {name:10s} wall {wall * 1e3:8.1f} ms  cpu {cpu * 1e3:8.1f} ms  "
                  f"cores {cpu / wall:.2f}  {flops / wall / 1e9:6.1f} GFLOP/s "
                  f"({flops / wall / 1e9 / peak:.0%} of peak)  per CPU-second "
                  f"{flops / cpu / 1e9:6.1f} ({flops / cpu / 1e9 / per_core:.0%} of a core's)")


if __name__ == "__main__":
    main()
