"""Any image size in bounded memory, and stroke size (no TensorFlow here).

Thumbnail instance normalisation (Chen et al., "Towards Ultra-Resolution Neural Style
Transfer via Thumbnail Instance Normalization", AAAI 2022): one pass over a downscaled
copy of the whole image gives the instance-norm moments of every styled layer; then
overlapping tiles are stylized with those moments (`stylize_with_moments`) and
cross-faded in their overlaps, one row of tiles at a time, so only the input, the output
and a strip of rows are ever held.

Stroke scale S: the network paints strokes of a fixed size in pixels, so it stylizes a
copy resized by 1/S; the result is resized back and (S > 1) the content's own fine
luminance detail lost by that resize is added back (the top level of a Laplacian pyramid).
"""

import dataclasses

import numpy as np
from PIL import Image

from arbitrary_style import image_io
from arbitrary_style.model_config import MIN_CONTENT_SIDE, SIZE_MULTIPLE

# The thumbnail's longer side: the largest of these that fits the memory budget (an image
# up to that size is its own thumbnail, and tiled equals whole).
THUMBNAIL_SIZES = (2048, 1536, 1024, 768, 512)
# Overlap of neighbouring tiles; tiles start on multiples of SIZE_MULTIPLE, so they see
# the same stride-2 sampling grid as the whole image. In an overlap, each tile's outer
# HALO pixels (where its mirror padding shows) get weight 0 and the rest is cross-faded
# linearly.
OVERLAP = 104
HALO = 40
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


def stylize_bytes_per_pixel(alpha):
    """Peak bytes per pixel of one network pass (see inference.estimate_stylize_bytes)."""
    from arbitrary_style import inference

    return (inference.STYLIZE_BYTES_PER_PIXEL_BASE
            + inference.STYLIZE_BYTES_PER_PIXEL_PER_ALPHA * alpha)


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


def work_size(size, stroke_scale):
    """The size (w, h) the network sees for an output of `size` at `stroke_scale`."""
    return tuple(max(MIN_CONTENT_SIDE, round(side / stroke_scale)) for side in size)


def one_pass(tile, work):
    """Whether `tile` (0: none) means one pass over an image the network sees at `work`
    (w, h): no tiles, or a tile covering the whole image."""
    return not tile or tile >= max(work)


def tiled_bytes(input_size, output_size, work, tile, thumbnail, alpha):
    """Estimated peak bytes of the tiled path."""
    shrink = min(1.0, thumbnail / max(work))
    pass_pixels = max(tile * tile, work[0] * work[1] * shrink * shrink)
    stroke = output_size != work
    return int(PROCESS_BYTES + input_size[0] * input_size[1] * TILED_BYTES_PER_PIXEL
               + stroke * output_size[0] * output_size[1] * STROKE_BYTES_PER_PIXEL
               + tile * work[0] * STRIP_BYTES_PER_PIXEL
               + pass_pixels * stylize_bytes_per_pixel(alpha))


def plan(input_size, output_size, alpha, *, budget=None, tile=0, stroke_scale=1.0):
    """The Plan for an image of `input_size` stylized at `output_size` (both (w, h)):
    whole when it fits `budget` bytes (None: no limit) and `tile` is 0 or covers the whole
    image, else tiles of
    `tile` pixels (0: automatic) with a thumbnail of THUMBNAIL_SIZES: the first that fits
    of efficient tiles (largest thumbnail first, then largest tile), then smaller tiles.
    Raises ValueError when nothing fits."""
    from arbitrary_style import inference

    work = work_size(output_size, stroke_scale)
    whole = inference.estimate_stylize_bytes(input_size, work, alpha)
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


def tile_spans(length, tile):
    """(start, stop) of tiles of `tile` pixels covering `length`, overlapping by at least
    OVERLAP, starting on multiples of SIZE_MULTIPLE; the last one runs to the end."""
    if length <= tile:
        return [(0, length)]
    step = max(SIZE_MULTIPLE, (tile - OVERLAP) // SIZE_MULTIPLE * SIZE_MULTIPLE)
    last = (length - tile) // SIZE_MULTIPLE * SIZE_MULTIPLE
    return [(start, start + tile) for start in range(0, last, step)] + [(last, length)]


def _ramp(spans, index):
    """Blend weights of tile `index` along one axis: linear ramps over its overlaps with
    the previous and next tiles, 1 elsewhere and at the image's borders."""
    start, stop = spans[index]
    positions = np.arange(start, stop, dtype=np.float32) + 0.5
    weight = np.ones(stop - start, np.float32)
    if index > 0:
        weight = np.minimum(weight, (positions - start - HALO)
                            / (spans[index - 1][1] - start - 2 * HALO))
    if index + 1 < len(spans):
        weight = np.minimum(weight, (stop - HALO - positions)
                            / (stop - spans[index + 1][0] - 2 * HALO))
    return np.clip(weight, 0.0, 1.0)


def thumbnail(content, size=THUMBNAIL_SIZES[0]):
    """A float copy of `content` [H,W,3] at most `size` on its longer side."""
    height, width = content.shape[:2]
    scale = min(1.0, size / max(width, height))
    if scale < 1:
        content = image_io.resize(content, (max(MIN_CONTENT_SIDE, round(width * scale)),
                                            max(MIN_CONTENT_SIDE, round(height * scale))))
    return _as_float(content)


def thumbnail_moments(model, content, vector, size=THUMBNAIL_SIZES[0]):
    """The instance-norm moments [M] of the thumbnail of `content`."""
    return model.stylize_with_moments(thumbnail(content, size), vector)[1]


def _as_float(pixels):
    return pixels.astype(np.float32) / np.float32(255) if pixels.dtype == np.uint8 else pixels


def _as_dtype(values, dtype):
    """Float `values` clipped to [0, 1], as float32 or (dtype uint8) rounded to 0..255."""
    values = np.clip(values, 0.0, 1.0)
    return np.round(values * 255).astype(np.uint8) if dtype == np.uint8 else values


def stylize_tiled(model, content, vector, tile, *, moments=None,
                  thumbnail_size=THUMBNAIL_SIZES[0], preserve_colors=False):
    """Stylizes content [H,W,3] (uint8 or float) by overlapping tiles of `tile` pixels,
    normalised with `moments` (default: those of its thumbnail of `thumbnail_size`);
    output of the content's dtype."""
    if moments is None:
        moments = thumbnail_moments(model, content, vector, thumbnail_size)
    height, width = content.shape[:2]
    rows, columns = tile_spans(height, tile), tile_spans(width, tile)
    output = np.empty(content.shape, np.uint8 if content.dtype == np.uint8 else np.float32)
    done = 0  # rows [0, done) are final and written to the output
    sums = np.zeros((0, width, 3), np.float32)
    weights = np.zeros((0, width, 1), np.float32)
    for r, (top, bottom) in enumerate(rows):
        grow = bottom - done - len(sums)
        sums = np.concatenate([sums, np.zeros((grow, width, 3), np.float32)])
        weights = np.concatenate([weights, np.zeros((grow, width, 1), np.float32)])
        vertical = _ramp(rows, r)[:, None]
        for c, (left, right) in enumerate(columns):
            piece = model.stylize_with_moments(
                _as_float(content[top:bottom, left:right]), vector, moments, 1.0,
                preserve_colors=preserve_colors)[0]
            weight = (vertical * _ramp(columns, c)[None])[..., None]
            sums[top - done:bottom - done, left:right] += piece * weight
            weights[top - done:bottom - done, left:right] += weight
        final = height if r + 1 == len(rows) else rows[r + 1][0]
        output[done:final] = _as_dtype(sums[:final - done] / weights[:final - done],
                                       output.dtype)
        sums, weights = sums[final - done:].copy(), weights[final - done:].copy()
        done = final
    return output


def _luma(pixels):
    return _as_float(pixels) @ np.array([0.299, 0.587, 0.114], np.float32)


def stylize(model, content, vector, *, tile=0, thumbnail_size=THUMBNAIL_SIZES[0],
            stroke_scale=1.0, preserve_colors=False):
    """Content [H,W,3] (uint8 or float) -> stylized, same size and dtype: whole (`tile` 0)
    or by tiles of `tile` pixels (see `stylize_tiled`), with strokes `stroke_scale` times
    the network's own."""
    height, width = content.shape[:2]
    work = work_size((width, height), stroke_scale)
    source = content
    if stroke_scale != 1:
        source = image_io.resize(content, work,
                                 Image.BILINEAR if stroke_scale > 1 else Image.BICUBIC)
        source = source if source.dtype == np.uint8 else np.clip(source, 0.0, 1.0)
    if not one_pass(tile, source.shape[1::-1]):
        stylized = stylize_tiled(model, source, vector, tile, thumbnail_size=thumbnail_size,
                                 preserve_colors=preserve_colors)
    else:
        stylized = model.stylize(_as_float(source), vector, preserve_colors=preserve_colors)
        if content.dtype == np.uint8:
            stylized = _as_dtype(stylized, np.uint8)
    if stroke_scale == 1:
        return stylized
    back = _as_float(image_io.resize(stylized, (width, height), Image.BICUBIC))
    if stroke_scale > 1:  # the content's luminance detail that the resizes lost
        back = back + (_luma(content) - _luma(image_io.resize(
            source, (width, height), Image.BICUBIC)))[..., None]
    return _as_dtype(back, content.dtype)
