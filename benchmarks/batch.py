"""Batch throughput: `python -m arbitrary_style.batch` on the DirectRunner vs the stylize
command, same folder, same flags, in one run.

    python benchmarks/batch.py [--images 200] [--size 512] [--workers 2] [--runs 1]

The folder holds `--images` JPEGs of `--size` x `--size` px cut from the shared photos
(shifted crops, so no two are alike). Each tool runs as its own process on a warm cache
(light graphs already built), runs interleaved; images/s is images / wall time of the whole
process (start-up included), and for the batch job also its own pipeline-only rate from the
summary. Each batch run writes into a fresh output directory (nothing to skip).
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "images"


def make_folder(directory, count, size):
    """`count` distinct size x size crops of the shared photos, upscaled."""
    photos = sorted((SHARED / "content").glob("*.jpg"))
    directory.mkdir(parents=True)
    for index in range(count):
        with Image.open(photos[index % len(photos)]) as photo:
            photo = photo.convert("RGB")
            shift = (index // len(photos)) % 32
            box = (shift, shift, photo.width - 32 + shift, photo.height - 32 + shift)
            photo.crop(box).resize((size, size), Image.BICUBIC).save(
                directory / f"image_{index:04d}.jpg", quality=92)


def timed(command):
    """(wall seconds, stdout) of one child process; fails loudly on a non-zero exit."""
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return wall, result.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()

    from arbitrary_style import backends
    from arbitrary_style.weights import store

    backends.load(store.resolve_weights(None), "auto")  # warm cache: light graphs built
    style = SHARED / "style" / "La_forma.jpg"
    common = ["--styles", str(style), "--content_size", str(args.size)]
    python = sys.executable
    results = {"stylize": [], "batch": [], "batch_pipeline_only": []}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = pathlib.Path(scratch)
        folder = scratch / "images"
        make_folder(folder, args.images, args.size)
        for run in range(args.runs):
            wall, _ = timed([python, "-m", "arbitrary_style.stylize", "--content", str(folder),
                             "--output", str(scratch / f"stylize_{run}"), *common])
            results["stylize"].append(args.images / wall)
            wall, stdout = timed([python, "-m", "arbitrary_style.batch", "--input", str(folder),
                                  "--output", str(scratch / f"batch_{run}"), *common, "--json",
                                  "--direct_running_mode", "multi_processing",
                                  "--direct_num_workers", str(args.workers)])
            summary = json.loads(stdout)
            assert summary["done"] == args.images, summary
            results["batch"].append(args.images / wall)
            results["batch_pipeline_only"].append(summary["images_per_second"])
    print(f"{args.images} images of {args.size}x{args.size} px, {os.cpu_count()} CPUs, "
          f"batch: DirectRunner multi_processing with {args.workers} workers; "
          f"{args.runs} run(s), median images/s:")
    for name, rates in results.items():
        print(f"  {name:<20} {statistics.median(rates):7.2f}   "
              f"({', '.join(f'{r:.2f}' for r in rates)})")


if __name__ == "__main__":
    main()
