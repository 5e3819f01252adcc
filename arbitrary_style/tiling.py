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

import numpy as np
from PIL import Image

from arbitrary_style import image_io
from arbitrary_style.image_io import to_float, to_uint8
from arbitrary_style.memory import THUMBNAIL_SIZES, one_pass, tile_spans, work_size
from arbitrary_style.model_config import MIN_CONTENT_SIDE

# In an overlap of neighbouring tiles (memory.OVERLAP pixels at least), each tile's outer
# HALO pixels (where its mirror padding shows) get weight 0 and the rest is cross-faded
# linearly.
HALO = 40


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
    return to_float(content)


def thumbnail_moments(model, content, vector, size=THUMBNAIL_SIZES[0], norm_offsets=None):
    """The instance-norm moments [M] of the thumbnail of `content`."""
    return model.instance_moments(thumbnail(content, size), vector, norm_offsets=norm_offsets)


def _as_dtype(values, dtype):
    """Float `values` clipped to [0, 1], as float32 or (dtype uint8) rounded to 0..255."""
    return to_uint8(values) if dtype == np.uint8 else np.clip(values, 0.0, 1.0)


def stylize_tiled(model, content, vector, tile, *, moments=None,
                  thumbnail_size=THUMBNAIL_SIZES[0], norm_offsets=None,
                  preserve_colors=False):
    """Stylizes content [H,W,3] (uint8 or float) by overlapping tiles of `tile` pixels,
    normalised with `moments` (default: those of its thumbnail of `thumbnail_size`);
    output of the content's dtype."""
    if moments is None:
        moments = thumbnail_moments(model, content, vector, thumbnail_size, norm_offsets)
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
                to_float(content[top:bottom, left:right]), vector, moments, 1.0,
                norm_offsets=norm_offsets, preserve_colors=preserve_colors)[0]
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
    return to_float(pixels) @ np.array([0.299, 0.587, 0.114], np.float32)


def stylize(model, content, vector, *, tile=0, thumbnail_size=THUMBNAIL_SIZES[0],
            stroke_scale=1.0, norm_offsets=None, preserve_colors=False):
    """Content [H,W,3] (uint8 or float) -> stylized, same size and dtype: whole (`tile` 0)
    or by tiles of `tile` pixels (see `stylize_tiled`), with strokes `stroke_scale` times
    the network's own; `norm_offsets` as `NetworkRunner.stylize` takes them."""
    height, width = content.shape[:2]
    work = work_size((width, height), stroke_scale)
    source = content
    if stroke_scale != 1:
        source = image_io.resize(content, work,
                                 Image.BILINEAR if stroke_scale > 1 else Image.BICUBIC)
        source = source if source.dtype == np.uint8 else np.clip(source, 0.0, 1.0)
    if not one_pass(tile, source.shape[1::-1]):
        stylized = stylize_tiled(model, source, vector, tile, thumbnail_size=thumbnail_size,
                                 norm_offsets=norm_offsets, preserve_colors=preserve_colors)
    else:
        stylized = model.stylize(to_float(source), vector, norm_offsets=norm_offsets,
                                 preserve_colors=preserve_colors)
        if content.dtype == np.uint8:
            stylized = _as_dtype(stylized, np.uint8)
    if stroke_scale == 1:
        return stylized
    back = to_float(image_io.resize(stylized, (width, height), Image.BICUBIC))
    if stroke_scale > 1:  # the content's luminance detail that the resizes lost
        back = back + (_luma(content) - _luma(image_io.resize(
            source, (width, height), Image.BICUBIC)))[..., None]
    return _as_dtype(back, content.dtype)
