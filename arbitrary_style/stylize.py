"""Stylize photos with any style images.

  python -m arbitrary_style.stylize --content photo.jpg --styles a.jpg:0.7,b.jpg:0.3
  python -m arbitrary_style.stylize --content photos/ --styles a.jpg --output out/
  python -m arbitrary_style.stylize --content clip.mp4 --styles a.jpg --output out.mp4

Each `--styles` entry is PATH[:WEIGHT] (weight > 0, default 1); the style vectors are
averaged with those weights. A path with a comma is written `\\,` in `--styles`, or given
literally with the repeatable `--style PATH` (and `--style_weight W`, one per `--style`).
A directory or several `--content` files write one image each into `--output DIR`. Images are float [0,1] RGB throughout; odd modes
(grayscale, CMYK, 16-bit, alpha, EXIF rotation) are converted on load. Videos (.mp4, .mov,
.webm, .mkv, .avi, animated .gif) are stylized frame by frame with one vector for the clip,
keeping their timing and audio (arbitrary_style/video.py).
"""

import json
import math
import os
import pathlib
import re
import resource
import sys
import time

from absl import flags

from arbitrary_style import cli, image_io, inference, temporal, tiling
from arbitrary_style.errors import UserError
from arbitrary_style.inference import parse_styles, plan_outputs

FLAGS = flags.FLAGS

# Upper bounds of the size flags (see --help).
MAX_CONTENT_SIZE = 8192
MAX_STYLE_SIZE = 1024
MAX_MAX_PIXELS = 1_000_000_000
MIN_STROKE_SCALE, MAX_STROKE_SCALE = 0.25, 8.0
# The default --max_memory: this share of the memory available when the command starts.
DEFAULT_MEMORY_SHARE = 0.8
_UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def define_flags():
    """Defines the command's flags; called only when run as `__main__`, so importing this
    module (tests, `optimize`) defines no global flags."""
    flags.DEFINE_multi_string("content", None, "Content image or video file(s), or directories "
                              "of them. Repeat the flag or list several files after it.")
    flags.DEFINE_string("styles", None, "Comma-separated style images, each PATH[:WEIGHT], "
                        "e.g. a.jpg:0.7,b.jpg:0.3 (finite weights > 0, default 1, normalised "
                        "to sum 1). The text after the last colon is a weight only if it is a "
                        "number, so paths with colons work; write a comma in a path as \\, "
                        "or use --style. @NAME is a tuned style (python -m "
                        "arbitrary_style.styles tune), e.g. @mine:0.7,b.jpg:0.3.")
    flags.DEFINE_multi_string("style", None, "A style image path taken literally (commas and "
                              "colons are part of the path); repeatable, combined with "
                              "--styles.")
    flags.DEFINE_multi_float("style_weight", None, "Weight of each --style (finite, > 0): give "
                             "none (all 1) or one per --style, in the same order.")
    flags.DEFINE_string("output", None, "Output file for one content image (.png, .jpg, .jpeg, "
                        ".webp) or video (.mp4, .webm, .gif), or directory for several. "
                        "Default: CONTENT_stylized.png (.mp4 for a video) in the current "
                        "directory, or ./stylized/ for several.")
    flags.DEFINE_float("temporal_smoothing", 0.0, "Videos: normalise each frame with an "
                       "exponential moving average (this factor, in [0, 0.99]) of the "
                       "network's instance-norm statistics, restarted at scene cuts. It "
                       "lowers flicker only slightly (about 1% at 0.95 on a panning clip, "
                       "none with exposure changes; see BUILD_NOTES). 0 = off: each frame "
                       "on its own.", lower_bound=0.0, upper_bound=0.99)
    flags.DEFINE_bool("temporal_consistency", False, "Videos: blend each stylized frame with "
                      "the previous output warped along the input's optical flow, where the "
                      "warp can be trusted (not at occlusions, scene cuts or large warp "
                      "errors): much less flicker, for roughly a quarter of the network's "
                      f"time per frame. Needs OpenCV ({temporal.INSTALL_HINT}).")
    flags.DEFINE_bool("json", False, "Print a JSON summary of what was done on stdout.")
    define_stylize_options()
    flags.register_validator(
        "style_weight", lambda values: all(v > 0 for v in values or []),
        message="--style_weight values must be finite numbers > 0")


def define_stylize_options():
    """The flags of how each content is stylized, shared with `arbitrary_style.batch`."""
    flags.DEFINE_float("strength", 1.0, "Style strength in [0, 1]: blends the style vector with "
                       "the content's own (0 = approximately the content, 1 = full style).",
                       lower_bound=0.0, upper_bound=1.0)
    flags.DEFINE_integer("content_size", 1024, "Shrink content so its longer side is at most this "
                         f"many pixels, at most {MAX_CONTENT_SIZE} (0 = keep the original size, "
                         "still subject to --max_memory).", lower_bound=0,
                         upper_bound=MAX_CONTENT_SIZE)
    flags.DEFINE_integer("style_size", 256, "Resize style images to this many pixels on the "
                         "shorter side before predicting their style (the training size), "
                         f"16..{MAX_STYLE_SIZE}. Style images are first center-cropped to at "
                         "most 4:1 (longer:shorter side).", lower_bound=16,
                         upper_bound=MAX_STYLE_SIZE)
    flags.DEFINE_bool("preserve_colors", False, "Keep the content's colours: transfer only "
                      "the luminance of the stylized image.")
    flags.DEFINE_string("weights", None, "Weights: a cache name (see `python -m "
                        "arbitrary_style.weights list`) or a weights directory. Default: the "
                        "cached default weights.")
    flags.DEFINE_integer("max_pixels", image_io.DEFAULT_MAX_PIXELS, "Refuse input images with "
                         "more pixels than this (protects against decompression bombs), at "
                         f"most {MAX_MAX_PIXELS:,}.", lower_bound=1, upper_bound=MAX_MAX_PIXELS)
    flags.DEFINE_string("max_memory", None, "Memory budget, e.g. 8G, 512M (K/M/G/T are powers "
                        "of 1024; a bare number is bytes): content whose stylization is "
                        "estimated to need more is stylized by tiles (see --tile), and refused "
                        "only when even tiles would not fit. Default: "
                        f"{DEFAULT_MEMORY_SHARE:.0%} of the memory available at start.")
    flags.DEFINE_enum("backend", "auto", list(inference.BACKENDS), "Where the networks run: "
                      "light (onnxruntime graphs generated from the Keras model, built and "
                      "cached once; no TensorFlow import afterwards), tensorflow (the Keras "
                      "model), auto (light where it can be used, else tensorflow).")
    flags.DEFINE_integer("tile", 0, "Stylize by overlapping tiles of this many pixels, "
                         f"at least {tiling.MIN_TILE}, normalised with the statistics of a "
                         "thumbnail of the whole image (seamless; bounded memory). 0 = "
                         "automatic: tiles only when the whole image would exceed "
                         "--max_memory.", lower_bound=0)
    flags.DEFINE_float("stroke_scale", 1.0, "Brush strokes this many times the network's own "
                       "size (2 = twice as large, 0.5 = half): stylizes a copy resized by "
                       "1/S and brings it back with the content's fine detail. "
                       f"{MIN_STROKE_SCALE}..{MAX_STROKE_SCALE}.",
                       lower_bound=MIN_STROKE_SCALE, upper_bound=MAX_STROKE_SCALE)
    flags.register_validator("tile", lambda value: value == 0 or value >= tiling.MIN_TILE,
                             message=f"--tile must be 0 (automatic) or at least "
                                     f"{tiling.MIN_TILE} pixels")
    flags.register_validator(
        "max_memory", lambda value: value is None or _parse_memory(value) is not None,
        message="--max_memory must be a size > 0 such as 8G, 512M or 1000000 (bytes)")


def _parse_memory(text):
    """'8G' -> 8 * 2**30; None when malformed or not > 0."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([KMGT]?)(?:i?B)?\s*",
                         text, re.IGNORECASE)
    if not match:
        return None
    value = float(match[1]) * _UNITS[match[2].upper()]
    return int(value) if math.isfinite(value) and value >= 1 else None


def available_memory():
    """Bytes of memory available now (MemAvailable, capped by a cgroup limit), or None."""
    candidates = []
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    candidates.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        try:
            candidates.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            pass
    try:
        limit = pathlib.Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = pathlib.Path("/sys/fs/cgroup/memory.current").read_text().strip()
        if limit != "max":
            candidates.append(max(0, int(limit) - int(used)))
    except (OSError, ValueError):
        pass
    return min(candidates) if candidates else None


def memory_budget(flag_value):
    """The --max_memory budget in bytes (None: unknown, no check)."""
    if flag_value is not None:
        return _parse_memory(flag_value)
    available = available_memory()
    return None if available is None else int(available * DEFAULT_MEMORY_SHARE)


def _format_bytes(count):
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        scale = _UNITS[unit[0]]
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


def _output_size(size, content_size):
    """(w, h) of an image of `size` shrunk to `content_size` on its longer side."""
    scale = 1.0
    if content_size and max(size) > content_size:
        scale = content_size / max(size)
    return (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))


def check_memory(path, alpha, content_size, budget, tile=0, stroke_scale=1.0):
    """The tiling.Plan for stylizing `path` within `budget` bytes: whole, or by tiles when
    that is over budget (from the header; None for files that `load_image` will report).
    Raises UserError when even tiles need more than the budget."""
    size = image_io.probe_size(path)
    if size is None:
        return None
    out = _output_size(size, content_size)
    try:
        return tiling.plan(size, out, alpha, budget=budget, tile=tile, stroke_scale=stroke_scale)
    except ValueError as error:
        reason = error
    fits = [side for side in (2 ** k for k in range(13, 3, -1))
            if inference.MIN_CONTENT_SIDE <= side < max(out)
            and _fits(size, side, alpha, budget, stroke_scale)]
    hint = (f"use --content_size {fits[0]} or less" if fits else
            f"decoding and writing the {size[0]}x{size[1]} image alone needs about "
            f"{_format_bytes(size[0] * size[1] * tiling.TILED_BYTES_PER_PIXEL)}; use a smaller "
            "image or a larger --max_memory")
    whole = inference.estimate_stylize_bytes(size, out, alpha)
    if tile and whole <= budget:  # Only the asked tile size is over the budget.
        raise UserError(f"{path}: stylizing {out[0]}x{out[1]} pixels by tiles of {tile} "
                        f"pixels {reason}, over the budget of {_format_bytes(budget)} "
                        "(--max_memory); use a smaller --tile, or --tile 0 (automatic)")
    raise UserError(f"{path}: stylizing {out[0]}x{out[1]} pixels needs an estimated "
                    f"{_format_bytes(whole)} of memory, over the budget of "
                    f"{_format_bytes(budget)} (--max_memory), and tiled {reason}; {hint}")


def _fits(size, content_size, alpha, budget, stroke_scale):
    try:
        tiling.plan(size, _output_size(size, content_size), alpha, budget=budget,
                    stroke_scale=stroke_scale)
    except ValueError:
        return False
    return True


def styles_from_flags(spec, paths, weights):
    """The (path, weight) list from --styles and the repeatable --style/--style_weight."""
    paths, weights = list(paths or []), list(weights or [])
    if weights and len(weights) != len(paths):
        raise UserError(f"got {len(paths)} --style but {len(weights)} --style_weight; give "
                        "one --style_weight per --style, or none")
    styles = parse_styles(spec) if spec or not paths else []
    for index, path in enumerate(paths):
        if not path.strip():
            raise UserError("--style needs an image path")
        weight = weights[index] if weights else 1.0
        if not (math.isfinite(weight) and weight > 0):
            raise UserError(f"--style_weight {weight} for {path}: must be a positive finite "
                            "number")
        styles.append((pathlib.Path(path), float(weight)))
    return styles


def style_shares(weights):
    """Each weight's share of the total, without overflowing for huge weights."""
    largest = max(weights)
    scaled = [w / largest for w in weights]
    return [w / sum(scaled) for w in scaled]


def collect_contents(arguments):
    """Content files from files and directories (a directory's images and videos, sorted)."""
    contents = []
    for argument in arguments:
        path = pathlib.Path(argument)
        if os.path.isdir(path):  # (pathlib's is_dir and exists raise for over-long names)
            images = image_io.list_images(path, accept=image_io.is_content_file)
            if not images:
                raise UserError(f"content directory {path} holds no images or videos")
            contents.extend(images)
        elif os.path.exists(path):
            contents.append(path)
        else:
            raise UserError(f"content image not found: {path}")
    if not contents:
        raise UserError("--content is required: an image file or a directory of images")
    return contents


def run(argv):
    """The command; returns the exit code (a UserError becomes one `error:` line)."""
    from arbitrary_style.weights import store

    started = time.perf_counter()
    styles = styles_from_flags(FLAGS.styles, FLAGS.style, FLAGS.style_weight)
    arguments = (FLAGS.content or []) + argv[1:]
    contents = collect_contents(arguments)
    videos = [path for path in contents if image_io.is_video_file(path)]
    outputs = plan_outputs(contents, contents + [p for p, _ in styles], FLAGS.output,
                           several=any(os.path.isdir(a) for a in arguments),
                           videos=videos)
    for path, _ in styles:  # Fail fast, and never open a FIFO or device.
        if not inference.is_tuned_style(path):
            image_io.check_regular_file(path, role="style image")
    budget = memory_budget(FLAGS.max_memory)
    weights_dir = store.resolve_weights(FLAGS.weights)
    config, _ = store.read_config(weights_dir)
    if len(contents) == 1:  # Refuse before loading the model; several are checked each.
        check_memory(contents[0], config.alpha, FLAGS.content_size, budget, FLAGS.tile,
                     FLAGS.stroke_scale)
    model = inference.load(weights_dir, FLAGS.backend)
    style_vector = inference.style_vector_of_entries(
        model, styles, FLAGS.weights or store.DEFAULT_WEIGHTS, FLAGS.style_size,
        FLAGS.max_pixels)

    from arbitrary_style import progress_bar

    results, failures = [], []
    progress = progress_bar.bar(list(zip(contents, outputs, strict=True)), unit="image",
                                disable=len(contents) == 1)
    for content_path, output_path in progress:
        progress.set_postfix_str(content_path.name)
        try:
            if content_path in videos:
                results.append(_stylize_video(model, content_path, output_path, style_vector,
                                              budget))
                continue
            layout = check_memory(content_path, model.config.alpha, FLAGS.content_size, budget,
                                  FLAGS.tile, FLAGS.stroke_scale)
            results.append(_stylize_one(model, content_path, output_path, style_vector, layout,
                                        budget))
        except UserError as error:
            if len(contents) == 1:
                raise
            progress.write(f"error: {error}", file=sys.stderr)
            failures.append({"content": str(content_path), "error": str(error)})
    summary = {
        "weights": str(weights_dir), "backbone": model.config.backbone,
        "alpha": model.config.alpha, "backend": model.backend,
        "styles": [{"path": str(p), "weight": w, "share": share} for (p, w), share
                   in zip(styles, style_shares([w for _, w in styles]), strict=True)],
        "strength": FLAGS.strength, "content_size": FLAGS.content_size,
        "style_size": FLAGS.style_size, "preserve_colors": FLAGS.preserve_colors,
        "temporal_smoothing": FLAGS.temporal_smoothing,
        "temporal_consistency": FLAGS.temporal_consistency, "outputs": results,
        "failed": failures,
        "seconds": round(time.perf_counter() - started, 3),
    }
    if FLAGS.json:
        print(json.dumps(summary, indent=2))
    elif len(contents) > 1:
        print(f"wrote {len(results)} of {len(contents)} {'files' if videos else 'images'} to "
              f"{outputs[0].parent}")
    else:
        print(f"wrote {outputs[0]}")
    if failures:
        print(f"error: {len(failures)} of {len(contents)} content "
              f"{'files' if videos else 'images'} failed", file=sys.stderr)
        return 1
    return 0


def _stylize_video(model, content_path, output_path, style_vector, budget):
    """Stylizes one video file (see arbitrary_style/video.py); its summary dict."""
    from arbitrary_style import video

    return video.stylize_video(
        model, content_path, output_path, style_vector, strength=FLAGS.strength,
        content_size=FLAGS.content_size, style_size=FLAGS.style_size,
        preserve_colors=FLAGS.preserve_colors, temporal_smoothing=FLAGS.temporal_smoothing,
        temporal_consistency=FLAGS.temporal_consistency, tile=FLAGS.tile,
        stroke_scale=FLAGS.stroke_scale, max_memory=budget)


def _stylize_one(model, content_path, output_path, style_vector, layout, budget):
    started = time.perf_counter()
    content = image_io.load_image(content_path, max_pixels=FLAGS.max_pixels,
                                  as_uint8=bool(layout and layout.tile))
    original_size = content.shape[1::-1]
    try:
        stylized = inference.stylize(
            model, content, style_vector, strength=FLAGS.strength,
            content_size=FLAGS.content_size, style_size=FLAGS.style_size,
            preserve_colors=FLAGS.preserve_colors, tile=FLAGS.tile,
            stroke_scale=FLAGS.stroke_scale, max_memory=budget)
    except ValueError as error:  # e.g. an image too small for the network
        raise UserError(f"{content_path}: {error}") from None
    image_io.save_image(stylized, output_path)
    return {"content": str(content_path), "output": str(output_path),
            "input_size": list(original_size), "output_size": list(stylized.shape[1::-1]),
            "stroke_scale": FLAGS.stroke_scale,
            **({"tile": layout.tile, "tiles": layout.tiles, "thumbnail": layout.thumbnail,
                "estimated_bytes": layout.estimated_bytes} if layout else {}),
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "seconds": round(time.perf_counter() - started, 3)}


if __name__ == "__main__":
    define_flags()
    cli.run(run, takes_arguments=True)
