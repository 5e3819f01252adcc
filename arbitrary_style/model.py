"""The Python API: a model that predicts style vectors, blends them, and stylizes images.

    model = arbitrary_style.load_pretrained()
    style = model.predict_style(load_image("a.jpg"))
    mixed = blend_style_vectors([style, model.predict_style(load_image("b.jpg"))], [0.7, 0.3])
    mixed = apply_strength(mixed, model.predict_style(content), 0.8)
    stylized = model.stylize(content, mixed, preserve_colors=True)
"""

import numpy as np
import tensorflow as tf

from arbitrary_style.image_io import center_crop_aspect, resize_short_side, transfer_luminance
from arbitrary_style.inference import (  # noqa: F401 (re-exported: the Python API's names)
    apply_strength, blend_style_vectors, estimate_stylize_bytes)
from arbitrary_style.model_config import (  # noqa: F401 (re-exported)
    DEFAULT_STYLE_SIZE, MIN_CONTENT_SIDE, STYLE_VECTOR_SIZE, ModelConfig, moments_inputs,
    transfer_inputs)
from arbitrary_style.predictor import build_style_predictor
from arbitrary_style.transformer import StyleTransferNetwork


class StyleModel:
    """The style prediction network and the style transfer network, ready for inference.

    Images are float32 [H,W,3] (or batches [B,H,W,3]) in [0, 1]; style vectors are
    [100] (or [B,100]). Both networks run as `tf.function`s that accept any image size
    without retracing for each new one.
    """

    backend = "tensorflow"  # The --backend value that loads it.

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
        self.moments_size = self.transformer.moments_size
        self._transfer_moments = tf.function(
            self.transformer.transfer_with_moments,
            input_signature=[image_spec, vector_spec,
                             tf.TensorSpec([None, self.moments_size], tf.float32),
                             tf.TensorSpec([None, 1], tf.float32)])

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
        content, batch, vectors = transfer_inputs(content_image, style_vector)
        stylized = self._transfer(tf.constant(batch), tf.constant(vectors)).numpy()
        if preserve_colors:
            stylized = transfer_luminance(batch, stylized)
        return stylized if content.ndim == 4 else stylized[0]

    def stylize_with_moments(self, content_image, style_vector, moments=None,
                             moments_weight=1.0, *, preserve_colors=False):
        """`stylize` normalising with `w * moments + (1 - w) * own` instance-norm moments
        (moments [M] or [B,M], w a number or [B]); returns (stylized, own moments [M] or
        [B,M]) from one pass. See layers.MomentsMix for the layout."""
        content, batch, vectors = transfer_inputs(content_image, style_vector)
        given, weight = moments_inputs(moments, moments_weight, len(batch), self.moments_size)
        stylized, own = self._transfer_moments(tf.constant(batch), tf.constant(vectors),
                                               tf.constant(given), tf.constant(weight))
        stylized, own = stylized.numpy(), own.numpy()
        if preserve_colors:
            stylized = transfer_luminance(batch, stylized)
        return (stylized, own) if content.ndim == 4 else (stylized[0], own[0])
