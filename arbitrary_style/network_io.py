"""The arrays in and out of the networks, shared by every backend (no TensorFlow here).

`NetworkRunner` is the inference API that every backend offers (see
`arbitrary_style.backends.Backend`): it prepares the inputs (style images center-cropped
and resized, single images batched, style vectors broadcast, instance-norm moments
filled in) and finishes the outputs (`preserve_colors`, unbatching) once, for all of
them. A backend implements only `_predict` and `_transfer_with_moments` on prepared
float32 batches (and may override `_transfer` with a faster call without moments).
"""

import numpy as np

from arbitrary_style.image_io import center_crop_aspect, resize_short_side, transfer_luminance
from arbitrary_style.model_config import DEFAULT_STYLE_SIZE, MIN_CONTENT_SIDE, STYLE_VECTOR_SIZE


def transfer_inputs(content_image, style_vector):
    """(content, batch [B,H,W,3] float32, vectors [B,100]) for a transformer call."""
    content = np.asarray(content_image, np.float32)
    batch = content if content.ndim == 4 else content[None]
    if min(batch.shape[1:3]) < MIN_CONTENT_SIDE:
        raise ValueError(f"content is {batch.shape[2]}x{batch.shape[1]} pixels; each side "
                         f"must be at least {MIN_CONTENT_SIDE}")
    vectors = np.broadcast_to(np.asarray(style_vector, np.float32).reshape(
        -1, STYLE_VECTOR_SIZE), (len(batch), STYLE_VECTOR_SIZE))
    return content, np.ascontiguousarray(batch), np.ascontiguousarray(vectors)


def moments_inputs(moments, moments_weight, batch_size, moments_size):
    """(given [B,M], weight [B,1]) float32 arrays; moments None means weight 0."""
    if moments is None:
        return (np.zeros((batch_size, moments_size), np.float32),
                np.zeros((batch_size, 1), np.float32))
    given = np.asarray(moments, np.float32)
    if given.shape[-1] != moments_size:
        raise ValueError(f"moments have {given.shape[-1]} values per image; this model "
                         f"needs {moments_size}")
    weight = np.asarray(moments_weight, np.float32).reshape(-1, 1)
    return (np.ascontiguousarray(np.broadcast_to(given.reshape(-1, moments_size),
                                                 (batch_size, moments_size))),
            np.ascontiguousarray(np.broadcast_to(weight, (batch_size, 1))))


class NetworkRunner:
    """predict_style / stylize / stylize_with_moments on top of a backend's two calls.

    Images are float32 [H,W,3] (or batches [B,H,W,3]) in [0, 1]; style vectors are [100]
    (or [B,100]). Subclasses set `config` (a ModelConfig) and `moments_size`.
    """

    def _predict(self, batch):
        """Style vectors [B,100] of prepared style images [B,H,W,3]."""
        raise NotImplementedError

    def _transfer_with_moments(self, batch, vectors, moments, weight):
        """(stylized [B,H,W,3], own moments [B,M]) normalising with `weight * moments +
        (1 - weight) * own` (moments [B,M], weight [B,1])."""
        raise NotImplementedError

    def _own_moments(self, batch, vectors, moments, weight):
        """Own moments [B,M] alone (a backend may skip making the image)."""
        return self._transfer_with_moments(batch, vectors, moments, weight)[1]

    def _transfer(self, batch, vectors):
        """Stylized [B,H,W,3]: the plain network (no moments given)."""
        moments, weight = moments_inputs(None, 0.0, len(batch), self.moments_size)
        return self._transfer_with_moments(batch, vectors, moments, weight)[0]

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

    def stylize(self, content_image, style_vector, *, preserve_colors=False):
        """Stylizes content [H,W,3] (or [B,H,W,3]) with a style vector; same size out."""
        content, batch, vectors = transfer_inputs(content_image, style_vector)
        stylized = _finish(batch, np.asarray(self._transfer(batch, vectors)), preserve_colors)
        return stylized if content.ndim == 4 else stylized[0]

    def instance_moments(self, content_image, style_vector):
        """The content's own instance-norm moments [M] ([B,M] for a batch) under a style
        vector (what tiles take from a thumbnail); the stylized image is not kept."""
        content, batch, vectors = transfer_inputs(content_image, style_vector)
        given, weight = moments_inputs(None, 0.0, len(batch), self.moments_size)
        own = np.asarray(self._own_moments(batch, vectors, given, weight))
        return own if content.ndim == 4 else own[0]

    def stylize_with_moments(self, content_image, style_vector, moments=None,
                             moments_weight=1.0, *, preserve_colors=False):
        """`stylize` normalising with `w * moments + (1 - w) * own` instance-norm moments
        (moments [M] or [B,M], w a number or [B]); returns (stylized, own moments [M] or
        [B,M]) from one pass. See layers.MomentsMix for the layout."""
        content, batch, vectors = transfer_inputs(content_image, style_vector)
        given, weight = moments_inputs(moments, moments_weight, len(batch), self.moments_size)
        stylized, own = (np.asarray(array) for array in
                         self._transfer_with_moments(batch, vectors, given, weight))
        stylized = _finish(batch, stylized, preserve_colors)
        return (stylized, own) if content.ndim == 4 else (stylized[0], own[0])


def _finish(batch, stylized, preserve_colors):
    """The network's output, with the content's colours when `preserve_colors`."""
    return transfer_luminance(batch, stylized) if preserve_colors else stylized
