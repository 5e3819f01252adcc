"""Stylize photos with any style images.

  python -m arbitrary_style.stylize --content photo.jpg --styles a.jpg:0.7,b.jpg:0.3
  python -m arbitrary_style.stylize --content photos/ --styles a.jpg --output out/

Each `--styles` entry is PATH[:WEIGHT] (weight > 0, default 1); the style vectors are
averaged with those weights. A directory or several `--content` files write one
image each into `--output DIR`. Images are float [0,1] RGB throughout; odd modes
(grayscale, CMYK, 16-bit, alpha, EXIF rotation) are converted on load.
"""

import json
import pathlib
import sys
import time

from absl import flags

from arbitrary_style import cli, image_io
from arbitrary_style.errors import UserError

FLAGS = flags.FLAGS

DEFAULT_MULTI_OUTPUT = "stylized"


def define_flags():
    """Defines the command's flags; called only when run as `__main__`, so importing this
    module (tests, `optimize`) defines no global flags."""
    flags.DEFINE_multi_string("content", None, "Content image file(s) or directories of images. "
                              "Repeat the flag or list several files after it.")
    flags.DEFINE_string("styles", None, "Comma-separated style images, each PATH[:WEIGHT], "
                        "e.g. a.jpg:0.7,b.jpg:0.3 (weights > 0, default 1, normalised to sum 1).")
    flags.DEFINE_string("output", None, "Output file for one content image (.png, .jpg, .jpeg, "
                        ".webp), or directory for several. Default: CONTENT_stylized.png in the "
                        "current directory, or ./stylized/ for several.")
    flags.DEFINE_float("strength", 1.0, "Style strength in [0, 1]: blends the style vector with "
                       "the content's own (0 = approximately the content, 1 = full style).",
                       lower_bound=0.0, upper_bound=1.0)
    flags.DEFINE_integer("content_size", 1024, "Shrink content so its longer side is at most this "
                         "many pixels (0 = keep the original size).", lower_bound=0)
    flags.DEFINE_integer("style_size", 256, "Resize style images to this many pixels on the "
                         "shorter side before predicting their style (the training size).",
                         lower_bound=16)
    flags.DEFINE_bool("preserve_colors", False, "Keep the content's colours: transfer only "
                      "the luminance of the stylized image.")
    flags.DEFINE_string("weights", None, "Weights: a cache name (see `python -m "
                        "arbitrary_style.weights list`) or a weights directory. Default: the "
                        "cached default weights.")
    flags.DEFINE_integer("max_pixels", image_io.DEFAULT_MAX_PIXELS, "Refuse input images with "
                         "more pixels than this (protects against decompression bombs).",
                         lower_bound=1)
    flags.DEFINE_bool("json", False, "Print a JSON summary of what was done on stdout.")


def parse_styles(spec):
    """'a.jpg:0.7,b.jpg' -> [(Path('a.jpg'), 0.7), (Path('b.jpg'), 1.0)]."""
    if not spec or not spec.strip():
        raise UserError("--styles is required: e.g. --styles a.jpg:0.7,b.jpg:0.3")
    styles = []
    for entry in spec.split(","):
        entry = entry.strip()
        path, sep, weight_text = entry.rpartition(":")
        if not sep or "/" in weight_text or "\\" in weight_text or pathlib.Path(entry).is_file():
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
                            "number")
        styles.append((pathlib.Path(path), weight))
    return styles


def collect_contents(arguments):
    """Content files from files and directories (a directory's images, sorted)."""
    contents = []
    for argument in arguments:
        path = pathlib.Path(argument)
        if path.is_dir():
            images = sorted(p for p in path.iterdir() if image_io.is_image_file(p))
            if not images:
                raise UserError(f"content directory {path} holds no images")
            contents.extend(images)
        elif path.exists():
            contents.append(path)
        else:
            raise UserError(f"content image not found: {path}")
    if not contents:
        raise UserError("--content is required: an image file or a directory of images")
    return contents


def plan_outputs(contents, inputs, output, *, several=False, suffix="_stylized"):
    """Output path per content; never one of the inputs, never two contents on one path.

    Outputs named here (no --output, or a directory) are CONTENT_STEM + `suffix` + .png.

    The outputs go into a directory when there are several contents, when `several`
    (the contents came from a directory), or when `output` is a directory (existing,
    or named with a trailing slash).
    """
    inputs = {p.resolve() for p in inputs}
    names_directory = bool(output) and (output.endswith("/") or pathlib.Path(output).is_dir())
    several = several or len(contents) > 1 or names_directory
    if several:
        directory = pathlib.Path(output or DEFAULT_MULTI_OUTPUT)
        if directory.is_file() or directory.suffix.lower() in image_io.SAVE_FORMATS:
            raise UserError(f"--output {directory}: several content images need an output "
                            "directory, not a file")
        planned = [directory / f"{c.stem}{suffix}.png" for c in contents]
    elif output:
        if pathlib.Path(output).suffix.lower() not in image_io.SAVE_FORMATS:
            raise UserError(f"--output {output}: unsupported extension; use one of "
                            f"{', '.join(image_io.SAVE_FORMATS)}")
        planned = [pathlib.Path(output)]
    else:
        planned = [pathlib.Path(f"{contents[0].stem}{suffix}.png")]
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


def run(argv):
    """The command; returns the exit code (a UserError becomes one `error:` line)."""
    from arbitrary_style import model as model_lib
    from arbitrary_style.weights import store

    started = time.perf_counter()
    styles = parse_styles(FLAGS.styles)
    arguments = (FLAGS.content or []) + argv[1:]
    contents = collect_contents(arguments)
    outputs = plan_outputs(contents, contents + [p for p, _ in styles], FLAGS.output,
                           several=any(pathlib.Path(a).is_dir() for a in arguments))
    weights_dir = store.resolve_weights(FLAGS.weights)
    model = store.load_model(weights_dir)

    style_images = [image_io.load_image(p, max_pixels=FLAGS.max_pixels) for p, _ in styles]
    style_vector = model_lib.blend_style_vectors(
        [model.predict_style(image, FLAGS.style_size) for image in style_images],
        [w for _, w in styles])

    from tqdm import tqdm

    results, failures = [], []
    progress = tqdm(list(zip(contents, outputs, strict=True)), unit="image",
                    disable=len(contents) == 1, file=sys.stderr)
    for content_path, output_path in progress:
        progress.set_postfix_str(content_path.name)
        try:
            results.append(_stylize_one(model, content_path, output_path, style_vector))
        except UserError as error:
            if len(contents) == 1:
                raise
            progress.write(f"error: {error}", file=sys.stderr)
            failures.append({"content": str(content_path), "error": str(error)})
    summary = {
        "weights": str(weights_dir), "backbone": model.config.backbone,
        "alpha": model.config.alpha,
        "styles": [{"path": str(p), "weight": w, "share": w / sum(w for _, w in styles)}
                   for p, w in styles],
        "strength": FLAGS.strength, "content_size": FLAGS.content_size,
        "style_size": FLAGS.style_size, "preserve_colors": FLAGS.preserve_colors,
        "outputs": results, "failed": failures,
        "seconds": round(time.perf_counter() - started, 3),
    }
    if FLAGS.json:
        print(json.dumps(summary, indent=2))
    elif len(contents) > 1:
        print(f"wrote {len(results)} of {len(contents)} images to {outputs[0].parent}")
    else:
        print(f"wrote {outputs[0]}")
    if failures:
        print(f"error: {len(failures)} of {len(contents)} content images failed", file=sys.stderr)
        return 1
    return 0


def _stylize_one(model, content_path, output_path, style_vector):
    from arbitrary_style import model as model_lib

    started = time.perf_counter()
    content = image_io.load_image(content_path, max_pixels=FLAGS.max_pixels)
    original_size = content.shape[1::-1]
    if FLAGS.content_size:
        content = model_lib.limit_long_side(content, FLAGS.content_size)
    vector = style_vector
    if FLAGS.strength < 1.0:
        vector = model_lib.apply_strength(
            style_vector, model.predict_style(content, FLAGS.style_size), FLAGS.strength)
    try:
        stylized = model.stylize(content, vector, preserve_colors=FLAGS.preserve_colors)
    except ValueError as error:  # e.g. an image too small for the network
        raise UserError(f"{content_path}: {error}") from None
    image_io.save_image(stylized, output_path)
    return {"content": str(content_path), "output": str(output_path),
            "input_size": list(original_size), "output_size": list(stylized.shape[1::-1]),
            "seconds": round(time.perf_counter() - started, 3)}


if __name__ == "__main__":
    define_flags()
    cli.run(run, takes_arguments=True)
