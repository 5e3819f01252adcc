"""Tiled stylization of a huge photo through the stylize command: time and peak memory,
and time per megapixel against the whole-image path at 2048x2048.

    python benchmarks/tiling.py [--size 10000] [--max_memory 2G] [--work /tmp/tiling_bench]

The photo is a shared content photo upscaled (bicubic) to SIZE x SIZE and saved as JPEG.
Each run is the command in a fresh process under an intermediate one that reports the
command's peak resident memory (ru_maxrss of its child). Both runs write PNG.
"""

import argparse
import json
import pathlib
import subprocess
import sys
import time

from PIL import Image

SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "images"
CONTENT = SHARED / "content" / "golden_gate_sq.jpg"
STYLE = SHARED / "style" / "La_forma.jpg"
MEASURE = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024, "
           "file=sys.stderr); sys.exit(r.returncode)")


def make_photo(path, size):
    if not path.exists():
        with Image.open(CONTENT) as photo:
            photo.convert("RGB").resize((size, size), Image.BICUBIC).save(path, quality=90)
    return path


def run(content, output, *extra):
    """(seconds of the whole command, peak RSS bytes, the output's JSON entry)."""
    command = [sys.executable, "-m", "arbitrary_style.stylize", "--content", str(content),
               "--styles", str(STYLE), "--content_size", "0", "--output", str(output),
               "--json", *extra]
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True,
                            text=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode:
        sys.exit(f"error: {' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return seconds, int(result.stderr.strip().splitlines()[-1]), json.loads(
        result.stdout)["outputs"][0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10000)
    parser.add_argument("--max_memory", default="2G")
    parser.add_argument("--work", default="/tmp/tiling_bench")
    args = parser.parse_args()
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for size, extra in ((2048, []), (args.size, ["--max_memory", args.max_memory])):
        content = make_photo(work / f"photo_{size}.jpg", size)
        seconds, peak, entry = run(content, work / f"stylized_{size}.png", *extra)
        megapixels = size * size / 1e6
        rows.append({"size": size, "command_seconds": round(seconds, 1),
                     "image_seconds": entry["seconds"],
                     "seconds_per_megapixel": round(entry["seconds"] / megapixels, 3),
                     "peak_rss_mib": round(peak / 2**20), "tile": entry.get("tile"),
                     "tiles": entry.get("tiles"), "thumbnail": entry.get("thumbnail"),
                     "estimated_mib": round(entry.get("estimated_bytes", 0) / 2**20)})
        print(json.dumps(rows[-1]), flush=True)
    ratio = rows[1]["seconds_per_megapixel"] / rows[0]["seconds_per_megapixel"]
    print(json.dumps({"per_megapixel_ratio_tiled_vs_whole_2048": round(ratio, 2)}))


if __name__ == "__main__":
    main()
