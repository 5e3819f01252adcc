"""Size and latency of exported TFLite models (tf.lite.Interpreter, fixed input shapes).

    python -m export.tflite --output_dir tflite/ --calibration_images ../shared/images/content \\
        --calibration_styles ../shared/images/style
    python benchmarks/tflite_latency.py tflite/ [--threads 2] [--repeats 20] [--burst 5]

Every `*.tflite` in the directory runs on random inputs of its own input shapes, warmed
up first. The models then take turns, `--burst` timed runs each, until each has
`--repeats`, so a noisy neighbour on a shared machine slows all alike. Reported: file
size and the median of the timed runs.
"""

import argparse
import pathlib
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from export.tflite import TFLiteModel


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=pathlib.Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--burst", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    runs, times = {}, {}
    for path in sorted(args.directory.glob("*.tflite")):
        model = TFLiteModel(path, num_threads=args.threads)
        inputs = {name: rng.random(shape, np.float32) for name, shape in
                  model.input_shapes.items()}
        runs[path] = (model, inputs)
        times[path] = []
        for _ in range(args.warmup):
            model(**inputs)
    while any(len(t) < args.repeats for t in times.values()):
        for path, (model, inputs) in runs.items():
            for _ in range(args.burst):
                start = time.perf_counter()
                model(**inputs)
                times[path].append(time.perf_counter() - start)
    print("| model | inputs | bytes | median ms |\n|---|---|---:|---:|")
    for path, (model, _) in runs.items():
        shapes = ", ".join(f"{name} {list(shape)}" for name, shape in model.input_shapes.items())
        print(f"| {path.name} | {shapes} | {path.stat().st_size} | "
              f"{statistics.median(times[path]) * 1000:.1f} |")

if __name__ == "__main__":
    main()
