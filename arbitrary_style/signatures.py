"""The networks' call signatures, defined once.

Every tf.function around the two networks is made here: StyleModel's inference calls,
the light graphs (`backends.light_graphs`), and the SavedModel / TF-Hub, TF.js and
TFLite exports, which differ only in shapes, tensor names and output keys:

    predict = signatures.predict_function(model, signatures.image_spec(name="image"))
    transfer = signatures.transfer_function(model, output="stylized")

Images are float32 NHWC in [0, 1]; style vectors [B, 100] (or any shape holding 100
values per image, e.g. Magenta's [B, 1, 1, 100]); norm offsets [B, M] (a tuned style's
per-layer parameters, `layers.NormInputs`), an input of StyleModel's calls and the light
graphs only: the exports keep the vector-only signatures their clients call.
"""

import tensorflow as tf

from arbitrary_style.layers import NormInputs
from arbitrary_style.model_config import STYLE_VECTOR_SIZE


def image_spec(name=None, size=None, batch=None):
    """Images [batch, size, size, 3] (None: any)."""
    return tf.TensorSpec([batch, size, size, 3], tf.float32, name=name)


def vector_spec(name=None, shape=(None, STYLE_VECTOR_SIZE)):
    """Style vectors of `shape` (batch first)."""
    return tf.TensorSpec(list(shape), tf.float32, name=name)


def offsets_spec(model, name=None):
    """Norm offsets [batch, M] of `model`'s transformer."""
    return tf.TensorSpec([None, model.transformer.moments_size], tf.float32, name=name)


def predict_function(model, image=None, *, output=None, vector_shape=None):
    """tf.function: style images -> style vectors (reshaped to `vector_shape` when given;
    as {output: vectors} when `output` is named)."""

    @tf.function(input_signature=[image or image_spec()])
    def predict(style):
        vectors = model.predictor(style, training=False)
        if vector_shape is not None:
            vectors = tf.reshape(vectors, vector_shape)
        return {output: vectors} if output else vectors

    return predict


def _per_image(style_vector, content):
    """[B, 100] style vectors for the content batch: reshaped and broadcast (one vector
    for every image) unless the shapes already agree."""
    if style_vector.shape.rank != 2:
        style_vector = tf.reshape(style_vector, [-1, STYLE_VECTOR_SIZE])
    if (content.shape[0] is None or style_vector.shape[0] != content.shape[0]):
        style_vector = tf.broadcast_to(style_vector, [tf.shape(content)[0], STYLE_VECTOR_SIZE])
    return style_vector


def transfer_function(model, image=None, vector=None, *, output=None, offsets=None):
    """tf.function: (content images, style vectors[, norm offsets when `offsets`, their
    spec, is given]) -> stylized images (as {output: ...} when `output` is named)."""

    @tf.function(input_signature=[image or image_spec(), vector or vector_spec()]
                 + ([offsets] if offsets else []))
    def transfer(content, style_vector, *norm_offsets):
        norm = NormInputs(offsets=norm_offsets[0]) if norm_offsets else None
        stylized = model.transformer(content, _per_image(style_vector, content),
                                     training=False, norm=norm)
        return {output: stylized} if output else stylized

    return transfer


def transfer_with_moments_function(model, image=None, vector=None, *, names=(None, None),
                                   offsets=None):
    """tf.function: (content, style vectors, moments [B,M], moments weight [B,1][, norm
    offsets when `offsets`, their spec, is given]) -> (stylized, own moments [B,M]); see
    StyleTransferNetwork.transfer_with_moments. `names`: the moments inputs' tensor names."""
    moments_name, weight_name = names
    return tf.function(model.transformer.transfer_with_moments, input_signature=[
        image or image_spec(), vector or vector_spec(),
        offsets_spec(model, moments_name), tf.TensorSpec([None, 1], tf.float32, name=weight_name)]
        + ([offsets] if offsets else []))
