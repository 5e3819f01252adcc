"""Memory, in one place: the memory available, the `--max_memory` budget, the one
estimate of a stylization's peak, and the plan that keeps an image within the budget
(whole, or by tiles with a thumbnail; see `tiling` for how tiles are stylized).

No TensorFlow and no onnxruntime here: the commands plan before loading any model.
"""

import dataclasses
import math
import os
import pathlib
import re

from arbitrary_style import image_io
from arbitrary_style.errors import UserError
from arbitrary_style.model_config import MIN_CONTENT_SIDE, SIZE_MULTIPLE

# The default --max_memory: this share of the memory available when the command starts.
DEFAULT_MEMORY_SHARE = 0.8
_UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}

# Peak memory of one network pass, bytes per output pixel, BASE + PER_ALPHA * alpha:
# measured as the peak RSS growth of a fresh process on random content, CPU
# (tests/test_adversarial.py measures both light graphs each run, loading's float copy of
# about 15 B/px included). The light path (onnxruntime 1.32, alpha 0.25): the plain graph
# 176-191 (512^2 to 2048^2); the moments graph (tiles, their thumbnail, temporal
# smoothing) 318-325. The Keras path (TF 2.21): ~130-180 at alpha 0.25, ~515-525 at
# alpha 1.0 (its slope is PER_ALPHA).
STYLIZE_BYTES_PER_PIXEL_BASE = 80
MOMENTS_BYTES_PER_PIXEL_BASE = 220
STYLIZE_BYTES_PER_PIXEL_PER_ALPHA = 460
# Decoding a content image: 8-bit pixels plus the float32 copy, per input pixel.
LOAD_BYTES_PER_PIXEL = 16

# The thumbnail's longer side: the largest of these that fits the memory budget (an image
# up to that size is its own thumbnail, and tiled equals whole).
THUMBNAIL_SIZES = (2048, 1536, 1024, 768, 512)
# Overlap of neighbouring tiles; tiles start on multiples of SIZE_MULTIPLE, so they see
# the same stride-2 sampling grid as the whole image.
OVERLAP = 104
MIN_TILE = 256
MAX_AUTO_TILE = 2048
# Automatic tiles are preferably at least this large (their overlaps then cost <= 25%
# more pixels), before the largest thumbnail.
EFFICIENT_TILE = 1024
# Peak bytes per image pixel when tiled: the uint8 input and output and Pillow's copy
# of the output when saving (4 bytes a pixel), rounded up.
TILED_BYTES_PER_PIXEL = 12
# Extra bytes per output pixel when stroke_scale != 1 (the resized copies, uint8 or float).
STROKE_BYTES_PER_PIXEL = 32
# Working bytes per pixel of a row strip: float32 sums and weights, twice (while shifting).
STRIP_BYTES_PER_PIXEL = 32
# The process's own memory (interpreter, libraries, sessions): 100-200 MiB measured.
PROCESS_BYTES = 192 * 2**20


def parse_memory(text):
    """'8G' -> 8 * 2**30 (K/M/G/T are powers of 1024; a bare number is bytes); None when
    malformed or not > 0."""
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


def budget(flag_value=None, shares=1):
    """The budget in bytes of one of `shares` processes: `flag_value` (a --max_memory text)
    as given, else DEFAULT_MEMORY_SHARE of the available memory shared out (None: unknown,
    no check)."""
    if flag_value is not None:
        return parse_memory(flag_value)
    available = available_memory()
    return None if available is None else int(available * DEFAULT_MEMORY_SHARE) // shares


def format_bytes(count):
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        scale = _UNITS[unit[0]]
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


def stylize_bytes_per_pixel(alpha, moments=False):
    """Peak bytes per output pixel of one network pass with a transformer of width `alpha`
    (`moments`: a pass that takes or returns instance-norm moments)."""
    base = MOMENTS_BYTES_PER_PIXEL_BASE if moments else STYLIZE_BYTES_PER_PIXEL_BASE
    return base + STYLIZE_BYTES_PER_PIXEL_PER_ALPHA * alpha


def estimate_stylize_bytes(input_size, output_size, alpha, moments=False):
    """Estimated peak bytes to load an image of `input_size` (w, h) and stylize it at
    `output_size` (w, h) with a transformer of width `alpha` (`moments`: see
    `stylize_bytes_per_pixel`)."""
    return int(input_size[0] * input_size[1] * LOAD_BYTES_PER_PIXEL
               + output_size[0] * output_size[1] * stylize_bytes_per_pixel(alpha, moments))


def check_fits(needed, limit, what):
    """Raises UserError when `needed` bytes exceed `limit` (None: no limit); `what` says
    what needs them."""
    if limit is not None and needed > limit:
        raise UserError(f"{what} needs about {needed / 2**20:.0f} MiB of memory, over the "
                        "budget (--max_memory); use a smaller --content_size")


@dataclasses.dataclass(frozen=True)
class Plan:
    """How one image is stylized: the network's input size (w, h), the tile size (0: the
    whole image at once), the number of tiles, the thumbnail's longer side (0: none) and
    the estimated peak bytes."""

    size: tuple
    tile: int
    tiles: int
    thumbnail: int
    estimated_bytes: int


def output_size(size, content_size):
    """(w, h) of an image of `size` shrunk to `content_size` on its longer side (0: as is)."""
    scale = 1.0
    if content_size and max(size) > content_size:
        scale = content_size / max(size)
    return (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))


def work_size(size, stroke_scale):
    """The size (w, h) the network sees for an output of `size` at `stroke_scale`."""
    return tuple(max(MIN_CONTENT_SIDE, round(side / stroke_scale)) for side in size)


def one_pass(tile, work):
    """Whether `tile` (0: none) means one pass over an image the network sees at `work`
    (w, h): no tiles, or a tile covering the whole image."""
    return not tile or tile >= max(work)


def tile_spans(length, tile):
    """(start, stop) of tiles of `tile` pixels covering `length`, overlapping by at least
    OVERLAP, starting on multiples of SIZE_MULTIPLE; the last one runs to the end."""
    if length <= tile:
        return [(0, length)]
    step = max(SIZE_MULTIPLE, (tile - OVERLAP) // SIZE_MULTIPLE * SIZE_MULTIPLE)
    last = (length - tile) // SIZE_MULTIPLE * SIZE_MULTIPLE
    return [(start, start + tile) for start in range(0, last, step)] + [(last, length)]


def tiled_bytes(input_size, output_size, work, tile, thumbnail, alpha):
    """Estimated peak bytes of the tiled path."""
    shrink = min(1.0, thumbnail / max(work))
    pass_pixels = max(tile * tile, work[0] * work[1] * shrink * shrink)
    stroke = output_size != work
    return int(PROCESS_BYTES + input_size[0] * input_size[1] * TILED_BYTES_PER_PIXEL
               + stroke * output_size[0] * output_size[1] * STROKE_BYTES_PER_PIXEL
               + tile * work[0] * STRIP_BYTES_PER_PIXEL
               + pass_pixels * stylize_bytes_per_pixel(alpha, moments=True))


def plan(input_size, output_size, alpha, *, budget=None, tile=0, stroke_scale=1.0):
    """The Plan for an image of `input_size` stylized at `output_size` (both (w, h)):
    whole when it fits `budget` bytes (None: no limit) and `tile` is 0 or covers the whole
    image, else tiles of `tile` pixels (0: automatic) with a thumbnail of THUMBNAIL_SIZES:
    the first that fits of efficient tiles (largest thumbnail first, then largest tile),
    then smaller tiles. Raises ValueError when nothing fits."""
    work = work_size(output_size, stroke_scale)
    whole = estimate_stylize_bytes(input_size, work, alpha)
    if stroke_scale != 1:
        whole += output_size[0] * output_size[1] * STROKE_BYTES_PER_PIXEL
    if one_pass(tile, work):  # A tile as large as the image is one pass.
        tile = 0
    if not tile and (budget is None or whole <= budget):
        return Plan(work, 0, 1, 0, whole)
    sizes = [tile] if tile else list(range(MAX_AUTO_TILE, MIN_TILE - 1, -64))
    for tiles in ([s for s in sizes if s >= EFFICIENT_TILE], [s for s in sizes
                                                               if s < EFFICIENT_TILE]):
        for thumbnail in THUMBNAIL_SIZES:
            for size in tiles:
                needed = tiled_bytes(input_size, output_size, work, size, thumbnail, alpha)
                if budget is None or needed <= budget:
                    count = len(tile_spans(work[0], size)) * len(tile_spans(work[1], size))
                    return Plan(work, size, count, min(thumbnail, max(work)), needed)
    least = tiled_bytes(input_size, output_size, work, sizes[-1], THUMBNAIL_SIZES[-1], alpha)
    raise ValueError(f"needs an estimated {least / 2**20:.0f} MiB")


def plan_file(path, alpha, content_size, budget, tile=0, stroke_scale=1.0):
    """The Plan for stylizing the image `path` within `budget` bytes, from its header (None
    for a file that `image_io.load_image` will report). Raises UserError, with a
    `--content_size` that would fit, when even tiles need more than the budget."""
    size = image_io.probe_size(path)
    if size is None:
        return None
    out = output_size(size, content_size)
    try:
        return plan(size, out, alpha, budget=budget, tile=tile, stroke_scale=stroke_scale)
    except ValueError as error:
        reason = error
    fits = [side for side in (2 ** k for k in range(13, 3, -1))
            if MIN_CONTENT_SIDE <= side < max(out)
            and _fits(size, side, alpha, budget, stroke_scale)]
    hint = (f"use --content_size {fits[0]} or less" if fits else
            f"decoding and writing the {size[0]}x{size[1]} image alone needs about "
            f"{format_bytes(size[0] * size[1] * TILED_BYTES_PER_PIXEL)}; use a smaller "
            "image or a larger --max_memory")
    whole = estimate_stylize_bytes(size, out, alpha)
    if tile and whole <= budget:  # Only the asked tile size is over the budget.
        raise UserError(f"{path}: stylizing {out[0]}x{out[1]} pixels by tiles of {tile} "
                        f"pixels {reason}, over the budget of {format_bytes(budget)} "
                        "(--max_memory); use a smaller --tile, or --tile 0 (automatic)")
    raise UserError(f"{path}: stylizing {out[0]}x{out[1]} pixels needs an estimated "
                    f"{format_bytes(whole)} of memory, over the budget of "
                    f"{format_bytes(budget)} (--max_memory), and tiled {reason}; {hint}")


def _fits(size, content_size, alpha, budget, stroke_scale):
    try:
        plan(size, output_size(size, content_size), alpha, budget=budget,
             stroke_scale=stroke_scale)
    except ValueError:
        return False
    return True
