"""The flags that several commands share, each defined once here with one help text and
one bound. A command defines those it takes when it runs (flags are process-global, so
importing a command defines none):

    common_flags.define("content", "styles", "output", "weights", "json")

`stylize_options()` turns the stylize options (`STYLIZE_OPTIONS`) into the pipeline's
`StylizeOptions`.
"""

from absl import flags

from arbitrary_style import backends, image_io, memory
from arbitrary_style.model_config import DEFAULT_STYLE_SIZE
from arbitrary_style.pipeline import StylizeOptions

FLAGS = flags.FLAGS

# Upper bounds of the size flags (see --help).
MAX_CONTENT_SIZE = 8192
MIN_STYLE_SIZE, MAX_STYLE_SIZE = 16, 1024
MAX_MAX_PIXELS = 1_000_000_000
MIN_STROKE_SCALE, MAX_STROKE_SCALE = 0.25, 8.0


def _content():
    flags.DEFINE_multi_string("content", None, "Content image or video file(s), or "
                              "directories of them. Repeat the flag or list several files "
                              "after it.")


def _styles():
    flags.DEFINE_string("styles", None, "Comma-separated style images, each PATH[:WEIGHT], "
                        "e.g. a.jpg:0.7,b.jpg:0.3 (finite weights > 0, default 1, normalised "
                        "to sum 1). The text after the last colon is a weight only if it is a "
                        "number, so paths with colons work; write a comma in a path as \\, "
                        "or use --style. @NAME is a tuned style (python -m "
                        "arbitrary_style.styles tune), e.g. @mine:0.7,b.jpg:0.3.")


def _style():
    flags.DEFINE_multi_string("style", None, "A style image path taken literally (commas and "
                              "colons are part of the path); repeatable, combined with "
                              "--styles.")
    flags.DEFINE_multi_float("style_weight", None, "Weight of each --style (finite, > 0): "
                             "give none (all 1) or one per --style, in the same order.")
    flags.register_validator("style_weight", lambda values: all(v > 0 for v in values or []),
                             message="--style_weight values must be finite numbers > 0")


def _output():
    flags.DEFINE_string("output", None, "Where to write the result: a file or a directory, "
                        "as the command's description above says (never one of its inputs).")


def _weights():
    flags.DEFINE_string("weights", None, "Weights: a cache name (see `python -m "
                        "arbitrary_style.weights list`) or a weights directory. Default: the "
                        "built-in magenta-mobile weights.")


def _json():
    flags.DEFINE_bool("json", False, "Print a JSON summary of what was done on stdout.")


def _max_pixels():
    flags.DEFINE_integer("max_pixels", image_io.DEFAULT_MAX_PIXELS, "Refuse input images with "
                         "more pixels than this (protects against decompression bombs), at "
                         f"most {MAX_MAX_PIXELS:,}.", lower_bound=1, upper_bound=MAX_MAX_PIXELS)


def _preserve_colors():
    flags.DEFINE_bool("preserve_colors", False, "Keep the content's colours: transfer only "
                      "the luminance of the stylized image.")


def _strength():
    flags.DEFINE_float("strength", 1.0, "Style strength in [0, 1]: blends the style vector with "
                       "the content's own (0 = approximately the content, 1 = full style).",
                       lower_bound=0.0, upper_bound=1.0)


def _content_size():
    flags.DEFINE_integer("content_size", 1024, "Shrink content so its longer side is at most "
                         f"this many pixels, at most {MAX_CONTENT_SIZE} (0 = keep the original "
                         "size, still subject to --max_memory).", lower_bound=0,
                         upper_bound=MAX_CONTENT_SIZE)


def _style_size():
    flags.DEFINE_integer("style_size", DEFAULT_STYLE_SIZE, "Resize style images to this many "
                         "pixels on the shorter side before predicting their style (the "
                         f"training size), {MIN_STYLE_SIZE}..{MAX_STYLE_SIZE}. Style images "
                         "are first center-cropped to at most 4:1 (longer:shorter side).",
                         lower_bound=MIN_STYLE_SIZE, upper_bound=MAX_STYLE_SIZE)


def _max_memory():
    flags.DEFINE_string("max_memory", None, "Memory budget, e.g. 8G, 512M (K/M/G/T are powers "
                        "of 1024; a bare number is bytes): content whose stylization is "
                        "estimated to need more is stylized by tiles (see --tile), and refused "
                        "only when even tiles would not fit. Default: "
                        f"{memory.DEFAULT_MEMORY_SHARE:.0%} of the memory available at start.")
    flags.register_validator(
        "max_memory", lambda value: value is None or memory.parse_memory(value) is not None,
        message="--max_memory must be a size > 0 such as 8G, 512M or 1000000 (bytes)")


def _backend():
    flags.DEFINE_enum("backend", "auto", list(backends.CHOICES), "Where the networks run: "
                      "light (onnxruntime graphs generated from the Keras model: shipped for "
                      "the built-in weights, built and cached once for others; no TensorFlow "
                      "import afterwards), tensorflow (the Keras model), auto (light where it "
                      "can be used, else tensorflow).")


def _tile():
    flags.DEFINE_integer("tile", 0, "Stylize by overlapping tiles of this many pixels, "
                         f"at least {memory.MIN_TILE}, normalised with the statistics of a "
                         "thumbnail of the whole image (seamless; bounded memory). 0 = "
                         "automatic: tiles only when the whole image would exceed "
                         "--max_memory.", lower_bound=0)
    flags.register_validator("tile", lambda value: value == 0 or value >= memory.MIN_TILE,
                             message=f"--tile must be 0 (automatic) or at least "
                                     f"{memory.MIN_TILE} pixels")


def _stroke_scale():
    flags.DEFINE_float("stroke_scale", 1.0, "Brush strokes this many times the network's own "
                       "size (2 = twice as large, 0.5 = half): stylizes a copy resized by "
                       "1/S and brings it back with the content's fine detail. "
                       f"{MIN_STROKE_SCALE}..{MAX_STROKE_SCALE}.",
                       lower_bound=MIN_STROKE_SCALE, upper_bound=MAX_STROKE_SCALE)


_DEFINITIONS = {
    "content": _content, "styles": _styles, "style": _style, "output": _output,
    "weights": _weights, "json": _json, "max_pixels": _max_pixels,
    "preserve_colors": _preserve_colors, "strength": _strength, "content_size": _content_size,
    "style_size": _style_size, "max_memory": _max_memory, "backend": _backend, "tile": _tile,
    "stroke_scale": _stroke_scale,
}
# How each content is stylized: the flags of `StylizeOptions`, shared by stylize and batch.
STYLIZE_OPTIONS = ("strength", "content_size", "style_size", "preserve_colors", "weights",
                   "max_pixels", "max_memory", "backend", "tile", "stroke_scale")


def define(*names):
    """Defines the shared flags `names` (keys of the definitions above)."""
    for name in names:
        _DEFINITIONS[name]()


def stylize_options(max_memory=None, **video):
    """The pipeline's `StylizeOptions` from the parsed stylize flags; `max_memory` in bytes
    (None: no limit), `video`: the temporal options."""
    return StylizeOptions(
        strength=FLAGS.strength, content_size=FLAGS.content_size, style_size=FLAGS.style_size,
        preserve_colors=FLAGS.preserve_colors, tile=FLAGS.tile, stroke_scale=FLAGS.stroke_scale,
        max_memory=max_memory, max_pixels=FLAGS.max_pixels, **video)
