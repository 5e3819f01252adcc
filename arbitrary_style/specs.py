"""What the user asked for, as the commands read it: `--styles` specs (style images and
tuned styles, with weights) and the output paths of a run (no model here)."""

import math
import os
import pathlib
import re

from arbitrary_style import image_io
from arbitrary_style.errors import UserError

DEFAULT_MULTI_OUTPUT = "stylized"
# The longest file name (one path component) that common file systems hold, in bytes.
NAME_MAX = 255
# Bytes kept free in a default output name for a "_N" that tells two outputs apart.
_COUNTER_ROOM = 8
TUNED_STYLE_PREFIX = "@"


def is_tuned_style(path):
    """True for a `--styles` entry naming a tuned style (`@NAME` that is not a file)."""
    return str(path).startswith(TUNED_STYLE_PREFIX) and not pathlib.Path(path).exists()


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
