"""Small Keras layers that both networks are built from.

Layer names follow Magenta's TF-slim variable scopes, so a variable's Keras path
(`transformer/contract/conv1/BatchNorm/beta`) is the Magenta name with only the
variable's own suffix changed (`weights` -> `kernel`); see `weights/conventions.py`.
"""

import keras
import tensorflow as tf

from arbitrary_style.model_config import BATCH_NORM_EPSILON


def batch_norm(momentum, scale):
    """A BatchNorm in slim's scope `BatchNorm` (slim's default has no scale/gamma).

    Built under a strategy of several replicas it normalizes with the statistics of the
    global batch (Keras's `synchronized`), so N replicas train as one on the global batch.
    """
    return keras.layers.BatchNormalization(
        name="BatchNorm", scale=scale, momentum=momentum, epsilon=BATCH_NORM_EPSILON,
        synchronized=tf.distribute.get_strategy().num_replicas_in_sync > 1)


class SlimConv2D(keras.layers.Conv2D):
    """`slim.conv2d`: convolution, then an optional normalizer, then an activation.

    Args:
      padding: "same" or "valid" (TensorFlow's meaning), or "reflect": mirror-pad
        by kernel_size // 2 and convolve VALID (Magenta's transformer convs).
      normalizer: a layer applied after the convolution (named "BatchNorm" or
        "StyleNorm", so its variables nest under this layer's scope); without one
        the convolution has a bias, as in slim.

    `pixel_block` (1: off) computes the same stride-1 convolution on blocks of
    pixel_block x pixel_block pixels (`blocked_conv2d`); the light graph builder sets it
    on the final 9x9 conv (see `StyleTransferNetwork.blocked_output_conv`).
    """

    pixel_block = 1

    def __init__(self, filters, kernel_size, strides=1, padding="same", normalizer=None,
                 activation=None, **kwargs):
        self.reflect_pad = padding == "reflect"
        super().__init__(filters, kernel_size, strides=strides,
                         padding="valid" if self.reflect_pad else padding,
                         use_bias=normalizer is None, **kwargs)
        self.normalizer = normalizer
        self.post_activation = keras.activations.get(activation)

    def call(self, inputs, style_vector=None, training=None, moments=None):
        if self.reflect_pad:
            ph, pw = self.kernel_size[0] // 2, self.kernel_size[1] // 2
            inputs = tf.pad(inputs, [[0, 0], [ph, ph], [pw, pw], [0, 0]], mode="REFLECT")
        if self.pixel_block > 1:
            x = blocked_conv2d(inputs, self.kernel, self.pixel_block)
            x = tf.nn.bias_add(x, self.bias) if self.use_bias else x
        else:
            x = super().call(inputs)
        if isinstance(self.normalizer, ConditionalInstanceNorm):
            x = self.normalizer(x, style_vector, moments=moments)
        elif self.normalizer is not None:
            x = self.normalizer(x, training=training)
        return self.post_activation(x)


def blocked_kernel(kernel, block):
    """The kernel [k,k,C,F] of a stride-1 VALID conv as the kernel [m,m,b*b*C,b*b*F]
    (b = block, m = ceil((k + b - 1) / b)) of the same conv on space-to-depth blocks.

    Output block pixel (a, c) of block (i, j) is the full-resolution pixel
    (b*i + a, b*j + c); the tap at (dy, dx) reads input pixel (b*i + a + dy, ...), which is
    pixel (p, q) of input block (i + u, ...) where a + dy = b*u + p. So the block kernel is
    `kernel` shifted by (a, c), zero-padded to b*m taps and regrouped by (u, p).
    """
    k, _, channels, filters = kernel.shape
    taps = -(-(k + block - 1) // block)
    phases = []
    for a in range(block):
        for c in range(block):
            shifted = tf.pad(kernel, [[a, block * taps - k - a], [c, block * taps - k - c],
                                      [0, 0], [0, 0]])
            grouped = tf.reshape(shifted, [taps, block, taps, block, channels, filters])
            phases.append(tf.reshape(tf.transpose(grouped, [0, 2, 1, 3, 4, 5]),
                                     [taps, taps, block * block * channels, filters]))
    return tf.concat(phases, axis=-1)  # Output channel (a*b + c)*F + f, as depth_to_space.


def depth_to_space(inputs, block):
    """`tf.nn.depth_to_space(inputs, block)` as a transposed conv with a one-hot kernel:
    the same values, and onnxruntime runs it about 5x faster than its DepthToSpace."""
    channels = inputs.shape[-1] // (block * block)
    one_hot = tf.reshape(tf.eye(block * block * channels),
                         [block, block, channels, block * block * channels])
    shape = tf.shape(inputs)
    return tf.nn.conv2d_transpose(
        inputs, one_hot, tf.stack([shape[0], shape[1] * block, shape[2] * block, channels]),
        strides=block, padding="VALID")


def blocked_conv2d(inputs, kernel, block):
    """The stride-1 VALID conv of `inputs` [B,H,W,C] (H, W multiples of `block`, which
    divides k - 1) with `kernel` [k,k,C,F], computed on block x block pixel blocks:
    space-to-depth, a conv with b*b times the channels at 1/b of the resolution,
    depth-to-space; equal up to float rounding. A wide kernel on few channels (Magenta's
    final 9x9 conv, 8 -> 3) fills the vector units this way: about 1.7x faster under
    onnxruntime (BUILD_NOTES)."""
    if (kernel.shape[0] - 1) % block:
        raise ValueError(f"block {block} does not divide kernel size {kernel.shape[0]} - 1")
    blocks = tf.nn.space_to_depth(inputs, block)
    outputs = tf.nn.conv2d(blocks, blocked_kernel(kernel, block), 1, "VALID")
    return depth_to_space(outputs, block)


class SlimDepthwiseConv2D(keras.layers.DepthwiseConv2D):
    """`slim.separable_conv2d(num_outputs=None)`: depthwise conv, BatchNorm, activation."""

    def __init__(self, kernel_size, strides=1, activation=None, batch_norm=None, **kwargs):
        super().__init__(kernel_size, strides=strides, padding="same", use_bias=False,
                         **kwargs)
        self.normalizer = batch_norm
        self.post_activation = keras.activations.get(activation)

    def call(self, inputs, training=None):
        return self.post_activation(self.normalizer(super().call(inputs), training=training))


class ConditionalInstanceNorm(keras.layers.Layer):
    """Conditional instance normalization (Magenta's `StyleNorm`).

    Per image and channel, `gamma * (x - mean) / sqrt(var + eps) + beta`, where beta
    and gamma are computed from the style vector by two dense heads named `Conv`
    (beta) and `Conv_1` (gamma), as Magenta's 1x1 convs under `style_params/`.
    """

    def __init__(self, channels, epsilon=1e-5, **kwargs):
        super().__init__(name="StyleNorm", **kwargs)
        self.epsilon = epsilon
        self.beta_head = keras.layers.Dense(channels, name="Conv")
        self.gamma_head = keras.layers.Dense(channels, name="Conv_1")

    def build(self, inputs_shape, style_vector_shape):
        self.beta_head.build(style_vector_shape)
        self.gamma_head.build(style_vector_shape)

    def call(self, inputs, style_vector, moments=None):
        """`moments`: an optional MomentsMix that records this layer's own moments and
        may replace them by a mix with given ones."""
        beta = self.beta_head(style_vector)[:, None, None, :]
        gamma = self.gamma_head(style_vector)[:, None, None, :]
        mean, variance = tf.nn.moments(inputs, axes=[1, 2], keepdims=True)
        if moments is not None:
            mean, variance = moments.mix(mean, variance)
        return tf.nn.batch_normalization(inputs, mean, variance, beta, gamma, self.epsilon)


class MomentsMix:
    """The instance-norm moments of one transformer call, threaded through its CIN layers.

    Each CIN, in call order, appends its own channel means then variances ([B, C] each)
    to `own`, and normalises with `w * given + (1 - w) * own`, where `given` [B, M] holds
    the same layout for all layers and `weight` w is [B, 1] (None given: own moments).
    """

    def __init__(self, given=None, weight=None):
        self.given, self.weight = given, weight
        self.own = []

    def mix(self, mean, variance):
        """Records mean and variance [B,1,1,C]; returns the ones to normalise with."""
        offset = sum(int(m.shape[-1]) for m in self.own)
        channels = int(mean.shape[-1])
        self.own += [mean[:, 0, 0, :], variance[:, 0, 0, :]]
        if self.given is None:
            return mean, variance
        w = self.weight[:, :, None, None]
        given = self.given[:, None, None, offset:offset + 2 * channels]
        return (w * given[..., :channels] + (1.0 - w) * mean,
                w * given[..., channels:] + (1.0 - w) * variance)

    def own_moments(self):
        """All recorded moments, [B, M]."""
        return tf.concat(self.own, axis=1)


def apply_in_turn(layers, inputs, *args, **kwargs):
    """`inputs` through each of `layers` in order, each called with the same extra arguments
    (a style vector, moments, `training`)."""
    for layer in layers:
        inputs = layer(inputs, *args, **kwargs)
    return inputs


class Block(keras.layers.Layer):
    """A named scope holding sublayers; they are built on first call, inside it."""

    def build(self, input_shape):
        del input_shape  # Sublayers build themselves when first called, under this scope.
