"""Latency and peak memory of our networks beside onnxruntime on the shared ONNX graphs.

    python benchmarks/latency.py [--repeats 20] [--burst 5] [--cases NAME,...|tf-options]

Each case runs in a worker process of its own (so thread pools never compete and its
peak RSS is its own), built and warmed up first. The driver then asks the workers in
turn for bursts of `--burst` timed runs until each has `--repeats`, so a noisy
neighbour on this shared machine slows all cases alike and the ratios stay fair.
Reported: each case's median and its worker's peak RSS. Our model is imported from
../shared/pretrained/magenta-mobile-int8 (float activations, the same weights as the
ONNX graphs).
"""

import argparse
import json
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

PRETRAINED = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "pretrained" \
    / "magenta-mobile-int8"
ORT_VECTOR_INPUT = "mobilenet_conv/Conv/BiasAdd"

# name -> (runner, size, what is timed)
CASES = {
    "ours predict 256": ("ours", 256, "predict"),
    "ours stylize 384": ("ours", 384, "transfer"),
    "ours stylize 512": ("ours", 512, "transfer"),
    "ours stylize 1024": ("ours", 1024, "transfer"),
    "ours end-to-end 1024": ("ours", 1024, "end_to_end"),
    "ort int8 predict 256": ("ort-int8", 256, "predict"),
    "ort int8 stylize 384": ("ort-int8", 384, "transfer"),
    "ort float predict 256": ("ort-float", 256, "predict"),
    "ort float stylize 384": ("ort-float", 384, "transfer"),
}
# What TensorFlow's options do to `ours stylize 384` (run with --cases tf-options).
TF_OPTION_CASES = {
    "ours stylize 384 eager": ("ours", 384, "transfer_eager"),
    "ours stylize 384 XLA": ("ours", 384, "transfer_xla"),
    "ours stylize 384 oneDNN off": ("ours", 384, "transfer"),
}
CASES.update(TF_OPTION_CASES)
WORKER_ENV = {"ours stylize 384 oneDNN off": {"TF_ENABLE_ONEDNN_OPTS": "0"}}
DEFAULT_CASES = [name for name in CASES if name not in TF_OPTION_CASES]


def _ours(size, what):
    from arbitrary_style.weights.importers import import_onnx_dir

    model = import_onnx_dir(PRETRAINED)
    rng = np.random.default_rng(0)
    style = rng.random((256, 256, 3), np.float32)
    content = rng.random((size, size, 3), np.float32)
    vector = model.predict_style(style, size=None)
    if what == "predict":
        return lambda: model.predict_style(content, size=None)
    if what == "transfer":
        return lambda: model.stylize(content, vector)
    if what in ("transfer_eager", "transfer_xla"):
        import tensorflow as tf

        def transfer(content, vector):
            return model.transformer(content, vector, training=False)
        if what == "transfer_xla":
            transfer = tf.function(transfer, jit_compile=True)
        batch, vectors = tf.constant(content[None]), tf.constant(vector[None])
        return lambda: transfer(batch, vectors).numpy()
    # What `stylize` does per image: predict the style, stylize the content.
    return lambda: model.stylize(content, model.predict_style(style))


def _ort(graph_names, size, what):
    import onnxruntime

    name = graph_names["predict" if what == "predict" else "transfer"]
    session = onnxruntime.InferenceSession(str(PRETRAINED / name))
    rng = np.random.default_rng(0)
    image = rng.random((1, size, size, 3), np.float32)
    if what == "predict":
        return lambda: session.run(None, {"style_image": image})
    vector = rng.normal(size=(1, 1, 1, 100)).astype(np.float32)
    return lambda: session.run(None, {"content_image": image, ORT_VECTOR_INPUT: vector})


RUNNERS = {
    "ours": _ours,
    "ort-int8": lambda size, what: _ort({"predict": "arbitrary_predict.onnx",
                                         "transfer": "arbitrary_transform.onnx"}, size, what),
    "ort-float": lambda size, what: _ort({"predict": "oracle_predict_float.onnx",
                                          "transfer": "oracle_transform_float.onnx"}, size, what),
}


def worker(name, warmup=3):
    """Builds one case, then serves `N` (time N runs) and `rss` requests on stdin/stdout."""
    step = RUNNERS[CASES[name][0]](*CASES[name][1:])
    for _ in range(warmup):
        step()
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "rss":
            print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, flush=True)
            continue
        times = []
        for _ in range(int(line)):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
        print(json.dumps(times), flush=True)


def _start_worker(name):
    process = subprocess.Popen([sys.executable, __file__, "--worker", name], text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               env={**os.environ, **WORKER_ENV.get(name, {})})
    for line in process.stdout:  # Skip library chatter until the worker is ready.
        if line.strip() == "ready":
            return process
    raise RuntimeError(f"worker for {name!r} died while starting")


def _ask(process, request):
    process.stdin.write(request + "\n")
    process.stdin.flush()
    return process.stdout.readline()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--burst", type=int, default=5)
    parser.add_argument("--cases", default=",".join(DEFAULT_CASES),
                        help="comma-separated case names, or 'tf-options' for "
                             "'ours stylize 384' under each TensorFlow option")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal: serve one case.
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker)

    names = args.cases.split(",")
    if args.cases == "tf-options":
        names = ["ours stylize 384", *TF_OPTION_CASES]
    workers = {name: _start_worker(name) for name in names}
    times = {name: [] for name in names}
    while any(len(t) < args.repeats for t in times.values()):
        for name, process in workers.items():
            times[name] += json.loads(_ask(process, str(args.burst)))
    medians = {name: statistics.median(values) * 1000 for name, values in times.items()}
    print("| case | median ms | peak RSS MiB |\n|---|---:|---:|")
    for name, process in workers.items():
        print(f"| {name} | {medians[name]:.1f} | {float(_ask(process, 'rss')):.0f} |")
        process.stdin.close()
        process.wait()
    for peer in ("ort int8 stylize 384", "ort float stylize 384"):
        if peer in medians and "ours stylize 384" in medians:
            print(f"\nours / {peer}: {medians['ours stylize 384'] / medians[peer]:.2f}")


if __name__ == "__main__":
    main()
