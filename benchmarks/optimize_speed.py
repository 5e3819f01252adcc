"""Seconds per step of optimization-based stylization (`arbitrary_style.optimize`).

    python benchmarks/optimize_speed.py [--sizes 256,512] [--steps 5] [--warmup 2]

A step is one L-BFGS-B iteration (one or more VGG forward+backward passes: the line search
may evaluate more than once) or one Adam update (one pass). The loss is the default
`LossConfig` on VGG-16 with random weights (weights=None): the same computation as with
ImageNet weights, without the download. Each case times `--warmup` + `--steps` steps after
the traced step 0 and reports the median of the last `--steps`. Prints a markdown table.
"""

import argparse
import os
import statistics
import time

import keras
import numpy as np

from arbitrary_style.losses import LossConfig, StyleLoss
from arbitrary_style.optimize import optimize_image


def seconds_per_step(loss, size, optimizer, steps, warmup):
    """Median seconds per step over `steps` steps, after `warmup` untimed ones."""
    rng = np.random.default_rng(0)
    content = rng.random((size, size, 3), np.float32)
    style = rng.random((size, size, 3), np.float32)
    times = []
    optimize_image(content, [style], loss=loss, steps=warmup + steps, optimizer=optimizer,
                   callback=lambda step, image, value: times.append(time.perf_counter()))
    durations = np.diff(times)[warmup:]  # times[0] is step 0, the start.
    return statistics.median(durations), len(durations)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="256,512", help="comma-separated image sides")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per case")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per case")
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    loss = StyleLoss(LossConfig(network="vgg16"), weights=None)
    print(f"VGG-16 (random weights), default LossConfig, {os.cpu_count()} CPUs\n")
    print("| size | optimizer | s/step (median) | steps timed |")
    print("| ---: | --- | ---: | ---: |")
    for size in map(int, args.sizes.split(",")):
        for optimizer in ("lbfgs", "adam"):
            median, count = seconds_per_step(loss, size, optimizer, args.steps, args.warmup)
            print(f"| {size} | {optimizer} | {median:.3f} | {count} |", flush=True)


if __name__ == "__main__":
    main()
