"""The arrays in and out of the networks, shared by every backend (no TensorFlow here).

`NetworkRunner` is the inference API that every backend offers (see
`arbitrary_style.backends.Backend`): it prepares the inputs (style images center-cropped
and resized, single images batched, style vectors broadcast, instance-norm moments
filled in) and finishes the outputs (`preserve_colors`, unbatching) once, for all of
them. A backend implements only `_predict` and `_transfer_with_moments` on prepared
float32 batches (and may override `_transfer` with a faster call without moments).

Every transfer takes optional norm offsets [M] (or [B,M]; `layers.NormInputs`'s layout,
`norm_params.flatten` makes them from a tuned style): added to the conditional instance
norms' beta and gamma; None is zeros.
"""

import numpy as np

from arbitrary_style.image_io import center_crop_aspect, resize_short_side, transfer_luminance
from arbitrary_style.model_config import DEFAULT_STYLE_SIZE, MIN_CONTENT_SIDE, STYLE_VECTOR_SIZE


def transfer_inputs(content_image, style_vector, norm_offsets, offsets_size):
    """(content, batch [B,H,W,3], vectors [B,100], offsets [B,M]) float32 arrays for a
    transformer call; norm_offsets None: zeros."""
    content = np.asarray(content_image, np.float32)
    batch = content if content.ndim == 4 else content[None]
    if min(batch.shape[1:3]) < MIN_CONTENT_SIDE:
        raise ValueError(f"content is {batch.shape[2]}x{batch.shape[1]} pixels; each side "
                         f"must be at least {MIN_CONTENT_SIDE}")
    vectors = _per_image(style_vector, len(batch), STYLE_VECTOR_SIZE, "style vectors")
    offsets = (np.zeros((len(batch), offsets_size), np.float32) if norm_offsets is None
               else _per_image(norm_offsets, len(batch), offsets_size, "norm offsets"))
    return content, np.ascontiguousarray(batch), vectors, offsets


def _per_image(values, batch_size, size, what):
    """`values` ([size] or [B,size]) as a contiguous float32 [B,size] array."""
    values = np.asarray(values, np.float32)
    if values.shape[-1] != size:
        raise ValueError(f"{what} have {values.shape[-1]} values per image; this model "
                         f"needs {size}")
    return np.ascontiguousarray(np.broadcast_to(values.reshape(-1, size), (batch_size, size)))


def moments_inputs(moments, moments_weight, batch_size, moments_size):
    """(given [B,M], weight [B,1]) float32 arrays; moments None means weight 0."""
    if moments is None:
        return (np.zeros((batch_size, moments_size), np.float32),
                np.zeros((batch_size, 1), np.float32))
    weight = np.asarray(moments_weight, np.float32).reshape(-1, 1)
    return (_per_image(moments, batch_size, moments_size, "moments"),
            np.ascontiguousarray(np.broadcast_to(weight, (batch_size, 1))))


class NetworkRunner:
    """predict_style / stylize / stylize_with_moments on top of a backend's two calls.

    Images are float32 [H,W,3] (or batches [B,H,W,3]) in [0, 1]; style vectors are [100]
    (or [B,100]); norm offsets and moments [M] (or [B,M]). Subclasses set `config` (a
    ModelConfig) and `moments_size` (M).
    """

    def _predict(self, batch):
        """Style vectors [B,100] of prepared style images [B,H,W,3]."""
        raise NotImplementedError

    def _transfer_with_moments(self, batch, vectors, offsets, moments, weight):
        """(stylized [B,H,W,3], own moments [B,M]) normalising with `weight * moments +
        (1 - weight) * own` (moments [B,M], weight [B,1]), norm offsets [B,M] added."""
        raise NotImplementedError

    def _own_moments(self, batch, vectors, offsets, moments, weight):
        """Own moments [B,M] alone (a backend may skip making the image)."""
        return self._transfer_with_moments(batch, vectors, offsets, moments, weight)[1]

    def _transfer(self, batch, vectors, offsets):
        """Stylized [B,H,W,3]: the plain network (no moments given)."""
        moments, weight = moments_inputs(None, 0.0, len(batch), self.moments_size)
        return self._transfer_with_moments(batch, vectors, offsets, moments, weight)[0]

    def predict_style(self, style_image, size=DEFAULT_STYLE_SIZE):
        """The style vector [100] of an image [H,W,3] ([B,100] for a batch [B,H,W,3]).

        The image is first center-cropped to at most `MAX_STYLE_ASPECT`:1 and resized to
        `size` pixels on its shorter side (None: as is).
        """
        image = np.asarray(style_image, np.float32)
        if size:
            image = resize_short_side(center_crop_aspect(image), size)
        batch = image if image.ndim == 4 else image[None]
        vectors = np.asarray(self._predict(np.ascontiguousarray(batch, np.float32)))
        return vectors if image.ndim == 4 else vectors[0]

    def stylize(self, content_image, style_vector, *, norm_offsets=None,
                preserve_colors=False):
        """Stylizes content [H,W,3] (or [B,H,W,3]) with a style vector (and norm offsets);
        same size out."""
        content, batch, vectors, offsets = transfer_inputs(
            content_image, style_vector, norm_offsets, self.moments_size)
        stylized = _finish(batch, np.asarray(self._transfer(batch, vectors, offsets)),
                           preserve_colors)
        return stylized if content.ndim == 4 else stylized[0]

    def instance_moments(self, content_image, style_vector, *, norm_offsets=None):
        """The content's own instance-norm moments [M] ([B,M] for a batch) under a style
        vector (what tiles take from a thumbnail); the stylized image is not kept."""
        content, batch, vectors, offsets = transfer_inputs(
            content_image, style_vector, norm_offsets, self.moments_size)
        given, weight = moments_inputs(None, 0.0, len(batch), self.moments_size)
        own = np.asarray(self._own_moments(batch, vectors, offsets, given, weight))
        return own if content.ndim == 4 else own[0]

    def stylize_with_moments(self, content_image, style_vector, moments=None,
                             moments_weight=1.0, *, norm_offsets=None, preserve_colors=False):
        """`stylize` normalising with `w * moments + (1 - w) * own` instance-norm moments
        (moments [M] or [B,M], w a number or [B]); returns (stylized, own moments [M] or
        [B,M]) from one pass. See layers.NormInputs for the layout."""
        content, batch, vectors, offsets = transfer_inputs(
            content_image, style_vector, norm_offsets, self.moments_size)
        given, weight = moments_inputs(moments, moments_weight, len(batch), self.moments_size)
        stylized, own = (np.asarray(array) for array in
                         self._transfer_with_moments(batch, vectors, offsets, given, weight))
        stylized = _finish(batch, stylized, preserve_colors)
        return (stylized, own) if content.ndim == 4 else (stylized[0], own[0])


def _finish(batch, stylized, preserve_colors):
    """The network's output, with the content's colours when `preserve_colors`."""
    return transfer_luminance(batch, stylized) if preserve_colors else stylized
