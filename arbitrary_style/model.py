"""The Python API: a model that predicts style vectors, blends them, and stylizes images.

    model = arbitrary_style.load_pretrained()
    style = model.predict_style(load_image("a.jpg"))
    mixed = blend_style_vectors([style, model.predict_style(load_image("b.jpg"))], [0.7, 0.3])
    mixed = apply_strength(mixed, model.predict_style(content), 0.8)
    stylized = model.stylize(content, mixed, preserve_colors=True)
"""

import tensorflow as tf

from arbitrary_style import signatures
from arbitrary_style.model_config import MIN_CONTENT_SIDE, STYLE_VECTOR_SIZE, ModelConfig
from arbitrary_style.network_io import NetworkRunner
from arbitrary_style.predictor import build_style_predictor
from arbitrary_style.style_vectors import apply_strength, blend_style_vectors  # noqa: F401 (re-exported: the Python API's names)
from arbitrary_style.transformer import StyleTransferNetwork


class StyleModel(NetworkRunner):
    """The style prediction network and the style transfer network, ready for inference
    (the `tensorflow` backend; the inference API is `network_io.NetworkRunner`'s).

    Both networks run as `tf.function`s (`signatures`) that accept any image size
    without retracing for each new one.
    """

    backend = "tensorflow"  # The --backend value that loads it.

    def __init__(self, config=ModelConfig()):
        self.config = config
        self.predictor = build_style_predictor(config.backbone)
        self.transformer = StyleTransferNetwork(config.alpha)
        self.transformer(tf.zeros([1, MIN_CONTENT_SIDE, MIN_CONTENT_SIDE, 3]),
                         tf.zeros([1, STYLE_VECTOR_SIZE]))
        self.moments_size = self.transformer.moments_size
        self._predict_function = signatures.predict_function(self)
        offsets = signatures.offsets_spec(self)
        self._transfer_function = signatures.transfer_function(self, offsets=offsets)
        self._transfer_moments_function = signatures.transfer_with_moments_function(
            self, offsets=offsets)

    @property
    def variables(self):
        """{Keras variable path: variable} of both networks (Magenta-style names)."""
        return {v.path: v for v in self.predictor.weights + self.transformer.weights}

    def _predict(self, batch):
        return self._predict_function(tf.constant(batch)).numpy()

    def _transfer(self, batch, vectors, offsets):
        return self._transfer_function(*map(tf.constant, (batch, vectors, offsets))).numpy()

    def _transfer_with_moments(self, batch, vectors, offsets, moments, weight):
        stylized, own = self._transfer_moments_function(
            *map(tf.constant, (batch, vectors, moments, weight, offsets)))
        return stylized.numpy(), own.numpy()
