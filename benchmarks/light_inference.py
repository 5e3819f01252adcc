"""The light path vs onnxruntime on the plain graph vs the TensorFlow path.

    .venv/bin/python benchmarks/light_inference.py [--weights DIR] [--sizes 256,512,1024,2048]

Three stylizers of one model, in one process, interleaved, median of --repeats: the light
path (`arbitrary_style.light`: its graphs compute the final conv on pixel blocks),
onnxruntime on the plain tf2onnx conversion of the same Keras model (`plain-onnx`: what
any user converting the model gets), and the Keras model on TensorFlow. Wall and CPU time
per stylization, and the transformer's achieved GFLOP/s (FLOPs counted from the Keras
model's conv shapes) against the 2-core peak of 166 GFLOP/s.
"""

import argparse
import statistics
import tempfile
import time

import numpy as np

from arbitrary_style import light
from arbitrary_style.layers import SlimConv2D
from arbitrary_style.weights import store

PEAK_GFLOPS = 166.0  # 2 cores x 2.6 GHz x 32 fp32 FLOP/cycle.


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
    light.write_graphs(model, plain_dir, blocked_output_conv=False)
    stylizers = {"light": light.LightModel.build(weights, model).stylize,
                 "plain-onnx": light.LightModel(plain_dir, config).stylize,
                 "tensorflow": model.stylize}
    vector = np.random.default_rng(0).random(100, np.float32)
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
            print(f"{side:5d} {name:10s} wall {wall * 1e3:8.1f} ms  cpu {cpu * 1e3:8.1f} ms  "
                  f"cores {cpu / wall:.2f}  {flops / wall / 1e9:6.1f} GFLOP/s "
                  f"({flops / wall / 1e9 / PEAK_GFLOPS:.0%} of peak)")


if __name__ == "__main__":
    main()
