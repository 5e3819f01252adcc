"""The Python API: a model that predicts style vectors, blends them, and stylizes images.

    model = arbitrary_style.load_pretrained()
    style = model.predict_style(load_image("a.jpg"))
    mixed = blend_style_vectors([style, model.predict_style(load_image("b.jpg"))], [0.7, 0.3])
    mixed = apply_strength(mixed, model.predict_style(content), 0.8)
    stylized = model.stylize(content, mixed, preserve_colors=True)
"""

import dataclasses

import numpy as np
import tensorflow as tf

from arbitrary_style.backbones import BACKBONES
from arbitrary_style.predictor import build_style_predictor
from arbitrary_style.transformer import STYLE_VECTOR_SIZE, StyleTransferNetwork

DEFAULT_STYLE_SIZE = 256
# Below this the transformer's mirror padding (9x9 kernels, two stride-2 convs) has no room.
MIN_CONTENT_SIDE = 16


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """What fixes the shapes of the weights: the predictor backbone and transformer width."""

    backbone: str = "inception_v3"
    alpha: float = 1.0

    def __post_init__(self):
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r}; "
                             f"choose one of {sorted(BACKBONES)}")
        if not 0 < self.alpha <= 4 or int(self.alpha * 32) < 1:
            raise ValueError(f"alpha must be in (0, 4], got {self.alpha}")


def _rescale(image, scale):
    height, width = image.shape[-3], image.shape[-2]
    new_size = (max(1, round(height * scale)), max(1, round(width * scale)))
    return tf.image.resize(image, new_size, antialias=True).numpy()


def resize_short_side(image, size):
    """Resizes [H,W,3] or [B,H,W,3] so the shorter side is `size` (antialiased bilinear)."""
    return _rescale(image, size / min(image.shape[-3], image.shape[-2]))


def limit_long_side(image, max_size):
    """Shrinks [H,W,3] so the longer side is at most `max_size`; smaller images stay as they are."""
    long_side = max(image.shape[-3], image.shape[-2])
    return image if long_side <= max_size else _rescale(image, max_size / long_side)


# Style images are center-cropped to at most this aspect ratio (long side : short side)
# before resizing: a 50000x3 strip resized to 256 on its short side would be 4.3 Gpx.
MAX_STYLE_ASPECT = 4.0

# Peak memory of one stylization, bytes per output pixel: measured (ru_maxrss delta of
# `stylize` on random 1024^2 and 2048^2 content, CPU, TF 2.21) ~130-180 at alpha 0.25 and
# ~515-525 at alpha 1.0, i.e. about BASE + PER_ALPHA * alpha (rounded up).
STYLIZE_BYTES_PER_PIXEL_BASE = 64
STYLIZE_BYTES_PER_PIXEL_PER_ALPHA = 460
# Decoding a content image: 8-bit pixels plus the float32 copy, per input pixel.
LOAD_BYTES_PER_PIXEL = 16


def center_crop_aspect(image, max_aspect=MAX_STYLE_ASPECT):
    """Center-crops [H,W,3] or [B,H,W,3] so long side / short side <= `max_aspect`."""
    height, width = image.shape[-3], image.shape[-2]
    short = min(height, width)
    limit = max(1, int(short * max_aspect))
    if height > limit:
        top = (height - limit) // 2
        image = image[..., top:top + limit, :, :]
    elif width > limit:
        left = (width - limit) // 2
        image = image[..., :, left:left + limit, :]
    return image


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


def transfer_luminance(content, stylized):
    """Keeps the content's colours: the stylized image's luma (Y) with the content's chroma (UV)."""
    content_yuv = tf.image.rgb_to_yuv(content)
    stylized_yuv = tf.image.rgb_to_yuv(stylized)
    merged = tf.concat([stylized_yuv[..., :1], content_yuv[..., 1:]], axis=-1)
    return np.clip(tf.image.yuv_to_rgb(merged).numpy(), 0.0, 1.0)


class StyleModel:
    """The style prediction network and the style transfer network, ready for inference.

    Images are float32 [H,W,3] (or batches [B,H,W,3]) in [0, 1]; style vectors are
    [100] (or [B,100]). Both networks run as `tf.function`s that accept any image size
    without retracing for each new one.
    """

    def __init__(self, config=ModelConfig()):
        self.config = config
        self.predictor = build_style_predictor(config.backbone)
        self.transformer = StyleTransferNetwork(config.alpha)
        self.transformer(tf.zeros([1, MIN_CONTENT_SIDE, MIN_CONTENT_SIDE, 3]),
                         tf.zeros([1, STYLE_VECTOR_SIZE]))
        image_spec = tf.TensorSpec([None, None, None, 3], tf.float32)
        vector_spec = tf.TensorSpec([None, STYLE_VECTOR_SIZE], tf.float32)
        self._predict = tf.function(lambda image: self.predictor(image, training=False),
                                    input_signature=[image_spec])
        self._transfer = tf.function(
            lambda content, vector: self.transformer(content, vector, training=False),
            input_signature=[image_spec, vector_spec])

    @property
    def variables(self):
        """{Keras variable path: variable} of both networks (Magenta-style names)."""
        return {v.path: v for v in self.predictor.weights + self.transformer.weights}

    def predict_style(self, style_image, size=DEFAULT_STYLE_SIZE):
        """The style vector [100] of an image [H,W,3] ([B,100] for a batch [B,H,W,3]).

        The image is first center-cropped to at most `MAX_STYLE_ASPECT`:1 and resized to
        `size` pixels on its shorter side (None: as is).
        """
        image = np.asarray(style_image, np.float32)
        if size:
            image = resize_short_side(center_crop_aspect(image), size)
        batch = image if image.ndim == 4 else image[None]
        vectors = self._predict(tf.constant(batch)).numpy()
        return vectors if image.ndim == 4 else vectors[0]

    def stylize(self, content_image, style_vector, *, preserve_colors=False):
        """Stylizes content [H,W,3] (or [B,H,W,3]) with a style vector; same size out."""
        content = np.asarray(content_image, np.float32)
        batch = content if content.ndim == 4 else content[None]
        if min(batch.shape[1:3]) < MIN_CONTENT_SIDE:
            raise ValueError(f"content is {batch.shape[2]}x{batch.shape[1]} pixels; each side "
                             f"must be at least {MIN_CONTENT_SIDE}")
        vectors = np.broadcast_to(np.asarray(style_vector, np.float32).reshape(
            -1, STYLE_VECTOR_SIZE), (len(batch), STYLE_VECTOR_SIZE))
        stylized = self._transfer(tf.constant(batch), tf.constant(vectors)).numpy()
        if preserve_colors:
            stylized = transfer_luminance(batch, stylized)
        return stylized if content.ndim == 4 else stylized[0]
