"""The one inference pipeline: inputs -> style vector -> stylized array -> output.

The stylize command, the optimiser's `--init fast` and the batch and video paths call
these. Nothing here imports TensorFlow: `load` picks the light onnxruntime path
(`arbitrary_style.light`) or the Keras `StyleModel`, which share one inference API
(`predict_style`, `stylize`, `config`).
"""

import os
import pathlib
import re
import sys

import numpy as np

from arbitrary_style import image_io, tiling
from arbitrary_style.errors import UserError
from arbitrary_style.model_config import (  # noqa: F401 (MIN_CONTENT_SIDE: for the commands)
    DEFAULT_STYLE_SIZE, MIN_CONTENT_SIDE, STYLE_VECTOR_SIZE)

BACKENDS = ("auto", "light", "tensorflow")
DEFAULT_MULTI_OUTPUT = "stylized"
# The longest file name (one path component) that common file systems hold, in bytes.
NAME_MAX = 255
# Bytes kept free in a default output name for a "_N" that tells two outputs apart.
_COUNTER_ROOM = 8

# Peak memory of one stylization, bytes per output pixel: measured (ru_maxrss delta of
# `stylize` on random 1024^2 and 2048^2 content, CPU) on the light path (onnxruntime 1.32)
# 293 at alpha 0.25; on the Keras path (TF 2.21) ~130-180 at alpha 0.25 and ~515-525 at
# alpha 1.0. BASE + PER_ALPHA * alpha covers both: the light path's level, the Keras
# path's slope.
STYLIZE_BYTES_PER_PIXEL_BASE = 180
STYLIZE_BYTES_PER_PIXEL_PER_ALPHA = 460
# Decoding a content image: 8-bit pixels plus the float32 copy, per input pixel.
LOAD_BYTES_PER_PIXEL = 16


def estimate_stylize_bytes(input_size, output_size, alpha):
    """Estimated peak bytes to load an image of `input_size` (w, h) and stylize it at
    `output_size` (w, h) with a transformer of width `alpha`."""
    per_pixel = STYLIZE_BYTES_PER_PIXEL_BASE + STYLIZE_BYTES_PER_PIXEL_PER_ALPHA * alpha
    return int(input_size[0] * input_size[1] * LOAD_BYTES_PER_PIXEL
               + output_size[0] * output_size[1] * per_pixel)


def blend_style_vectors(vectors, weights=None):
    """Weighted mean `sum_i w_i v_i / sum_i w_i` of style vectors; weights must be > 0."""
    vectors = np.asarray(vectors, np.float32).reshape(-1, STYLE_VECTOR_SIZE)
    weights = np.ones(len(vectors)) if weights is None else np.asarray(weights, np.float64)
    if weights.shape != (len(vectors),):
        raise ValueError(f"got {len(vectors)} style vectors but {weights.size} weights")
    if not np.all(np.isfinite(weights)) or np.any(weights <= 0):
        raise ValueError(f"style weights must be positive numbers, got {weights.tolist()}")
    weights = weights / weights.max()  # in (0, 1]: the sum cannot overflow (e.g. 1e308s)
    return (weights @ vectors / weights.sum()).astype(np.float32)


def apply_strength(style_vector, content_vector, strength):
    """Identity interpolation: `s * style + (1 - s) * content`, s in [0, 1] (1 = full style)."""
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be between 0 and 1, got {strength}")
    return (strength * np.asarray(style_vector, np.float32)
            + (1.0 - strength) * np.asarray(content_vector, np.float32))


def load(weights_dir, backend="auto", num_threads=None):
    """The model of `weights_dir` on `backend` (the light path with `num_threads` threads,
    default all of this process's CPUs).

    "light": onnxruntime graphs generated from the Keras model (built and cached on first
    use, which imports TensorFlow once); "tensorflow": the Keras StyleModel; "auto": light
    where onnxruntime is installed and the graphs can be built or are cached, else TensorFlow.
    """
    if backend not in BACKENDS:
        raise UserError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    from arbitrary_style.weights import store

    if backend == "tensorflow":
        return store.load_model(weights_dir)
    from arbitrary_style import light

    try:
        cached = light.LightModel.load(weights_dir, num_threads)
    except ImportError:  # onnxruntime is not installed
        if backend == "light":
            raise
        cached = None
    if cached is not None:
        return cached
    keras_model = store.load_model(weights_dir)  # Bad weights fail here, once.
    try:
        return light.LightModel.build(weights_dir, keras_model, num_threads)
    except (ImportError, UserError) as error:  # no converter, or the graphs cannot be written
        if backend == "light":
            raise
        if isinstance(error, UserError):
            _warn_once(f"warning: {error}; using the slower TensorFlow backend (each run "
                       "tries again: make the cache writable, or set ARBITRARY_STYLE_HOME)")
        return keras_model


_WARNED = set()


def _warn_once(line):
    """Prints `line` on stderr the first time this process asks (a batch worker may load the
    model several times)."""
    if line not in _WARNED:
        _WARNED.add(line)
        print(line, file=sys.stderr)


def style_vector(model, style_images, weights=None, style_size=DEFAULT_STYLE_SIZE):
    """The blended style vector of style images [H,W,3] with weights > 0."""
    return blend_style_vectors([model.predict_style(image, style_size) for image in style_images],
                               weights)


TUNED_STYLE_PREFIX = "@"


def is_tuned_style(path):
    """True for a `--styles` entry naming a tuned style (`@NAME` that is not a file)."""
    return str(path).startswith(TUNED_STYLE_PREFIX) and not pathlib.Path(path).exists()


def style_vector_of_entries(model, styles, weights_name, style_size=DEFAULT_STYLE_SIZE,
                            max_pixels=image_io.DEFAULT_MAX_PIXELS):
    """The blended vector of `parse_styles` entries: style images, or `@NAME` tuned styles
    (`tuned_styles`, which must have been tuned for the weights `weights_name`)."""
    from arbitrary_style import tuned_styles

    vectors = [tuned_styles.vector_for(str(path)[1:], weights_name) if is_tuned_style(path)
               else model.predict_style(image_io.load_image(path, max_pixels=max_pixels),
                                        style_size)
               for path, _ in styles]
    return blend_style_vectors(vectors, [weight for _, weight in styles])


def stylize(model, content, vector, *, strength=1.0, content_size=None,
            style_size=DEFAULT_STYLE_SIZE, preserve_colors=False, tile=0, stroke_scale=1.0,
            max_memory=None):
    """Content [H,W,3] (float in [0,1], or uint8 for huge images) -> stylized array of the
    same dtype: shrunk to `content_size` on its longer side (None or 0: as is), the style
    vector blended with the content's own by `strength`, strokes `stroke_scale` times the
    network's own size. Stylized by tiles (see `tiling`) of `tile` pixels, or of an
    automatic size when the whole image is estimated to need over `max_memory` bytes."""
    input_size = content.shape[1::-1]
    if content_size:
        content = image_io.limit_long_side(content, content_size)
    if strength < 1.0:
        source = tiling.thumbnail(content) if content.dtype == np.uint8 else content
        vector = apply_strength(vector, model.predict_style(source, style_size), strength)
    layout = tiling.plan(input_size, content.shape[1::-1], model.config.alpha,
                         budget=max_memory, tile=tile, stroke_scale=stroke_scale)
    return tiling.stylize(model, content, vector, tile=layout.tile,
                          thumbnail_size=layout.thumbnail, stroke_scale=stroke_scale,
                          preserve_colors=preserve_colors)


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_styles(spec):
    """'a.jpg:0.7,b.jpg' -> [(Path('a.jpg'), 0.7), (Path('b.jpg'), 1.0)].

    `\\,` is a comma inside a path. The text after the last colon is the weight only when
    it is a number (or the entry is not an existing file and that text looks like no path
    part, e.g. `a.jpg:x`, which is an error); `a:b.jpg` is the path `a:b.jpg`.
    """
    if not spec or not spec.strip():
        raise UserError("--styles is required: e.g. --styles a.jpg:0.7,b.jpg:0.3")
    styles = []
    for entry in re.split(r"(?<!\\),", spec):
        entry = entry.replace("\\,", ",").strip()
        path, sep, weight_text = entry.rpartition(":")
        if (not sep or os.path.isfile(entry)  # (pathlib's is_file raises for long names)
                or (not _is_number(weight_text) and re.search(r"[./\\]", weight_text))):
            path, weight_text = entry, "1"
        try:
            weight = float(weight_text)
        except ValueError:
            raise UserError(f"malformed --styles entry {entry!r}: weight {weight_text!r} "
                            "is not a number (use PATH[:WEIGHT])") from None
        if not path:
            raise UserError(f"malformed --styles entry {entry!r}: missing the image path "
                            f"(use PATH[:WEIGHT], entries separated by commas)")
        if not weight > 0 or weight == float("inf"):
            raise UserError(f"malformed --styles entry {entry!r}: weight must be a positive "
                            "finite number")
        styles.append((pathlib.Path(path), weight))
    return styles


def plan_outputs(contents, inputs, output, *, several=False, suffix="_stylized", videos=()):
    """Output path per content; never one of the inputs, never two contents on one path.

    Outputs named here (no --output, or a directory) are CONTENT_STEM + `suffix` + .png, or
    + .mp4 for the contents in `videos`; a named output file must have an image extension
    (a video one for a video content).

    The outputs go into a directory when there are several contents, when `several`
    (the contents came from a directory), or when `output` is a directory (existing,
    or named with a trailing slash).
    """
    inputs = {p.resolve() for p in inputs}
    videos = set(videos)
    if output:
        _check_name_lengths(output)
    names_directory = bool(output) and (output.endswith("/") or os.path.isdir(output))
    several = several or len(contents) > 1 or names_directory
    default_names = [_fit_name(c.stem, f"{suffix}{'.mp4' if c in videos else '.png'}")
                     for c in contents]
    if several:
        directory = pathlib.Path(output or DEFAULT_MULTI_OUTPUT)
        if os.path.isfile(directory) or directory.suffix.lower() in {
                *image_io.SAVE_FORMATS, *image_io.VIDEO_SAVE_EXTENSIONS}:
            raise UserError(f"--output {directory}: several content images need an output "
                            "directory, not a file")
        planned = [directory / name for name in default_names]
    elif output:
        allowed = image_io.VIDEO_SAVE_EXTENSIONS if contents[0] in videos else image_io.SAVE_FORMATS
        if pathlib.Path(output).suffix.lower() not in allowed:
            kind = "a video" if contents[0] in videos else "an image"
            raise UserError(f"--output {output}: unsupported extension for {kind}; use one of "
                            f"{', '.join(allowed)}")
        planned = [pathlib.Path(output)]
    else:
        planned = [pathlib.Path(default_names[0])]
    explicit = bool(output) and not several
    outputs, taken = [], set(inputs)
    for path in planned:
        if path.resolve() in inputs and explicit:
            raise UserError(f"--output {path} is one of the inputs; refusing to overwrite it")
        candidate, n = path, 1
        while candidate.resolve() in taken:
            candidate = path.with_name(f"{path.stem}_{n}{path.suffix}")
            n += 1
        taken.add(candidate.resolve())
        outputs.append(candidate)
    return outputs


def _check_name_lengths(output):
    """Raises UserError when a name in the --output path is longer than file systems hold
    (pathlib's checks and the final write would fail on it)."""
    for name in pathlib.Path(output).parts:
        size = len(os.fsencode(name))
        if size > NAME_MAX:
            raise UserError(f"--output {name[:40]}...: a name of {size} bytes, over the "
                            f"{NAME_MAX} bytes a file system holds; use a shorter one")


def _fit_name(stem, tail):
    """`stem` + `tail`, the stem cut so that the name fits NAME_MAX bytes (with room for a
    counter): a content's own name may already be as long as a file system allows."""
    room = NAME_MAX - _COUNTER_ROOM - len(os.fsencode(tail))
    return os.fsdecode(os.fsencode(stem)[:room]) + tail
