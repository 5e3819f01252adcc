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
    `channels_first` (False: off) computes the same layer on NCHW tensors, for tracing
    only (TensorFlow runs NCHW convolutions on GPUs, not CPUs): the layout of the light
    graphs (see `StyleTransferNetwork.light_graph_layout`).
    """

    pixel_block = 1
    channels_first = False

    def __init__(self, filters, kernel_size, strides=1, padding="same", normalizer=None,
                 activation=None, **kwargs):
        self.reflect_pad = padding == "reflect"
        super().__init__(filters, kernel_size, strides=strides,
                         padding="valid" if self.reflect_pad else padding,
                         use_bias=normalizer is None, **kwargs)
        self.normalizer = normalizer
        self.post_activation = keras.activations.get(activation)

    def call(self, inputs, style_vector=None, training=None, norm=None):
        if self.channels_first:
            return self._call_channels_first(inputs, style_vector, norm)
        if self.reflect_pad:
            ph, pw = self.kernel_size[0] // 2, self.kernel_size[1] // 2
            inputs = tf.pad(inputs, [[0, 0], [ph, ph], [pw, pw], [0, 0]], mode="REFLECT")
        if self.pixel_block > 1:
            x = blocked_conv2d(inputs, self.kernel, self.pixel_block)
            x = tf.nn.bias_add(x, self.bias) if self.use_bias else x
        else:
            x = super().call(inputs)
        if isinstance(self.normalizer, ConditionalInstanceNorm):
            x = self.normalizer(x, style_vector, norm=norm)
        elif self.normalizer is not None:
            x = self.normalizer(x, training=training)
        return self.post_activation(x)

    def _call_channels_first(self, inputs, style_vector, norm, upsample=1):
        """`call` at inference on NCHW `inputs` (mirror-padded convs only): the same
        arithmetic, BatchNorm as its per-channel scale and shift, and a CIN that tf2onnx
        converts to one InstanceNormalization (`ConditionalInstanceNorm.channels_first`).
        `upsample` 2: of the nearest-neighbour upsampled `inputs`, computed on the
        inputs' own resolution (`upsampled_conv2d`)."""
        if not self.reflect_pad or (norm is not None and norm.given is not None):
            raise ValueError("the channels-first layout covers mirror-padded convs without "
                             "given moments")
        ph, pw = self.kernel_size[0] // 2, self.kernel_size[1] // 2
        if upsample > 1:
            x = upsampled_conv2d(inputs, self.kernel, upsample)
        else:
            inputs = tf.pad(inputs, [[0, 0], [0, 0], [ph, ph], [pw, pw]], mode="REFLECT")
            if self.pixel_block > 1:
                x = blocked_conv2d(inputs, self.kernel, self.pixel_block, data_format="NCHW")
            else:
                x = tf.nn.conv2d(inputs, self.kernel, self.strides, "VALID",
                                 data_format="NCHW")
        return self._finish_channels_first(x, style_vector, norm=norm)

    def blocks_channels_first(self, inputs, block):
        """This stride-1 layer (without CIN) on NCHW `inputs`, its output left as
        block x block pixel blocks (space-to-depth layout, [B, b*b*F, H/b, W/b]): the conv
        on blocks (`blocked_conv2d` without its depth-to-space), then BatchNorm and
        activation, which are per channel and pixel, with their parameters repeated per
        block pixel (onnxruntime fuses them into the conv)."""
        ph, pw = self.kernel_size[0] // 2, self.kernel_size[1] // 2
        padded = tf.pad(inputs, [[0, 0], [0, 0], [ph, ph], [pw, pw]], mode="REFLECT")
        blocks = tf.nn.space_to_depth(padded, block, data_format="NCHW")
        x = tf.nn.conv2d(blocks, blocked_kernel(self.kernel, block), 1, "VALID",
                         data_format="NCHW")
        return self._finish_channels_first(x, None, block * block)

    def strided_on_blocks_channels_first(self, blocks):
        """This 3x3 stride-2 mirror-padded layer (without CIN) of the full-resolution map
        whose 2x2 pixel blocks are `blocks` (NCHW, [B, 4*C, H/2, W/2]): a 2x2 conv of the
        blocks, edge-padded by one block at the top and left (`strided_kernel_on_blocks`),
        and no depth-to-space or full-resolution padding."""
        if tuple(self.strides) != (2, 2) or not self.reflect_pad:
            raise ValueError("strided_on_blocks_channels_first covers mirror-padded "
                             "stride-2 convs")
        padded = edge_pad(blocks, 1, 0)
        x = tf.nn.conv2d(padded, strided_kernel_on_blocks(self.kernel), 1, "VALID",
                         data_format="NCHW")
        return self._finish_channels_first(x, None)

    def _finish_channels_first(self, x, style_vector, repeat=1, norm=None):
        """Bias, normalizer and activation of NCHW conv outputs `x`; `repeat` > 1: `x`
        holds that many groups of the output channels (pixel blocks; no CIN then)."""
        per_channel = lambda v: tf.reshape(tf.tile(v, [repeat]), [-1, 1, 1])  # noqa: E731
        if self.use_bias:
            x = x + per_channel(self.bias)
        if isinstance(self.normalizer, ConditionalInstanceNorm):
            x = self.normalizer.channels_first(x, style_vector, norm)
        elif self.normalizer is not None:
            x = _batch_norm_channels_first(self.normalizer, x, per_channel)
        return self.post_activation(x)


def _batch_norm_channels_first(layer, x, per_channel):
    """A BatchNormalization layer's inference on NCHW `x`: x * inv + (beta - mean * inv),
    inv = gamma / sqrt(variance + epsilon), as Keras computes it; `per_channel` shapes a
    parameter vector to broadcast over `x`."""
    inv = tf.math.rsqrt(per_channel(layer.moving_variance) + layer.epsilon)
    if layer.scale:
        inv = inv * per_channel(layer.gamma)
    offset = per_channel(layer.beta) if layer.center else 0.0
    return x * inv + (offset - per_channel(layer.moving_mean) * inv)


def edge_pad(inputs, before, after):
    """NCHW `inputs` with their first / last row and column repeated `before` / `after`
    (0 or 1) times, as concatenations: tf.pad has no edge mode, and tf2onnx converts its
    SYMMETRIC mode (the same for one pixel) to a reflect Pad of 2 and a Compress, 5x slower
    under onnxruntime; `light_graphs.edge_pads_from_concats` makes these one edge Pad."""
    rows = [inputs[:, :, :1]] * before + [inputs] + [inputs[:, :, -1:]] * after
    inputs = tf.concat(rows, axis=2)
    columns = [inputs[:, :, :, :1]] * before + [inputs] + [inputs[:, :, :, -1:]] * after
    return tf.concat(columns, axis=3)


def upsampled_conv2d(inputs, kernel, factor):
    """The 3x3 conv, mirror-padded by 1, of NCHW `inputs` upsampled x2 (nearest), without
    upsampling: a conv of `inputs` edge-padded by 1 (E; the mirror padding of a x2
    upsampled map repeats its edge, so padded upsampled row r is E[(r + 1) // 2]) with the
    four output phases as channels, then depth-to-space. Output row 2i + a, tap t reads
    E[i + (a + t + 1) // 2]: phase 0 weighs E rows i, i + 1 by w0, w1 + w2, phase 1 rows
    i + 1, i + 2 by w0 + w1, w2 (columns alike). The same FLOPs as the upsampled conv, at
    a quarter of the positions with four times the output channels (which fills
    onnxruntime's 16-channel blocks: BUILD_NOTES, issue 26)."""
    if factor != 2 or tuple(kernel.shape[:2]) != (3, 3):
        raise ValueError("upsampled_conv2d covers 3x3 kernels upsampled by 2")
    rows = [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 0.0]], \
        [[0.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]  # [phase][new tap][old tap]
    phases = []
    for a in range(2):
        for c in range(2):
            phases.append(tf.einsum("ik,jl,klcf->ijcf", tf.constant(rows[a]),
                                    tf.constant(rows[c]), kernel))
    phase_kernel = tf.concat(phases, axis=-1)  # Channel (a*2 + c)*F + f, as depth_to_space.
    padded = edge_pad(inputs, 1, 1)
    outputs = tf.nn.conv2d(padded, phase_kernel, 1, "VALID", data_format="NCHW")
    return depth_to_space(outputs, 2, "NCHW")


def strided_kernel_on_blocks(kernel):
    """The kernel [3,3,C,F] of a stride-2 conv after mirror padding by 1 as the kernel
    [2,2,4*C,F] of a stride-1 VALID conv of the input's 2x2 pixel blocks (channel
    (a*2 + c)*C + ch holds pixel (2I + a, 2J + c)) edge-padded by one block at the top
    and left. Output row i, tap dy reads padded row 2i + dy, input row 2i + dy - 1: block
    i - 1's row 1 (dy = 0; for i = 0 the mirror image of row -1 is row 1, which the edge
    padding's block repeats), block i's rows 0 and 1 (dy = 1, 2); columns alike."""
    k, _, channels, filters = kernel.shape
    if k != 3:
        raise ValueError("strided_kernel_on_blocks covers 3x3 kernels")
    taps = {(0, 1): 0, (1, 0): 1, (1, 1): 2}  # (block tap, pixel in block) -> kernel tap
    zero = tf.zeros([channels, filters], kernel.dtype)
    rows = []
    for u in range(2):
        columns = []
        for v in range(2):
            columns.append(tf.concat([
                kernel[taps[u, a], taps[v, c]] if (u, a) in taps and (v, c) in taps else zero
                for a in range(2) for c in range(2)], axis=0))
        rows.append(tf.stack(columns))
    return tf.stack(rows)


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


def depth_to_space(inputs, block, data_format="NHWC"):
    """`tf.nn.depth_to_space(inputs, block)` as a transposed conv with a one-hot kernel:
    the same values, and onnxruntime runs it about 5x faster than its DepthToSpace."""
    first = data_format == "NCHW"
    channels = inputs.shape[1 if first else -1] // (block * block)
    one_hot = tf.reshape(tf.eye(block * block * channels),
                         [block, block, channels, block * block * channels])
    shape = tf.shape(inputs)
    if first:
        output_shape = [shape[0], channels, shape[2] * block, shape[3] * block]
    else:
        output_shape = [shape[0], shape[1] * block, shape[2] * block, channels]
    return tf.nn.conv2d_transpose(inputs, one_hot, tf.stack(output_shape), strides=block,
                                  padding="VALID", data_format=data_format)


def blocked_conv2d(inputs, kernel, block, data_format="NHWC"):
    """The stride-1 VALID conv of `inputs` [B,H,W,C] (H, W multiples of `block`, which
    divides k - 1) with `kernel` [k,k,C,F], computed on block x block pixel blocks:
    space-to-depth, a conv with b*b times the channels at 1/b of the resolution,
    depth-to-space; equal up to float rounding. A wide kernel on few channels (Magenta's
    final 9x9 conv, 8 -> 3) fills the vector units this way: about 1.7x faster under
    onnxruntime (BUILD_NOTES)."""
    if (kernel.shape[0] - 1) % block:
        raise ValueError(f"block {block} does not divide kernel size {kernel.shape[0]} - 1")
    blocks = tf.nn.space_to_depth(inputs, block, data_format=data_format)
    outputs = tf.nn.conv2d(blocks, blocked_kernel(kernel, block), 1, "VALID",
                           data_format=data_format)
    return depth_to_space(outputs, block, data_format)


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

    def call(self, inputs, style_vector, norm=None):
        """`norm`: the call's optional NormInputs (moments to mix in, offsets to beta and
        gamma; it records this layer's own moments)."""
        beta, gamma, start = self._parameters(style_vector, norm)
        mean, variance = tf.nn.moments(inputs, axes=[1, 2], keepdims=True)
        if norm is not None:
            mean, variance = norm.mix(start, mean, variance)
        return tf.nn.batch_normalization(inputs, mean, variance, beta[:, None, None, :],
                                         gamma[:, None, None, :], self.epsilon)

    def _parameters(self, style_vector, norm):
        """(beta [B,C], gamma [B,C], this layer's start in NormInputs' layout or None)."""
        beta, gamma = self.beta_head(style_vector), self.gamma_head(style_vector)
        if norm is None:
            return beta, gamma, None
        start = norm.take(self.beta_head.units)
        beta, gamma = norm.shift(start, beta, gamma)
        return beta, gamma, start

    def channels_first(self, inputs, style_vector, norm=None):
        """`call` on NCHW `inputs` (own moments; offsets from `norm`), written as the
        mean/variance pattern that tf2onnx turns into one ONNX InstanceNormalization: each
        image's channels become the channels of a [1, B*C, H*W] tensor, normalised with
        gamma and beta per image and channel. The same arithmetic as `call` up to float
        rounding."""
        beta, gamma, _ = self._parameters(style_vector, norm)
        shape = tf.shape(inputs)
        flat = tf.reshape(inputs, [1, shape[0] * shape[1], shape[2] * shape[3]])
        gamma = tf.reshape(gamma, [1, -1, 1])
        beta = tf.reshape(beta, [1, -1, 1])
        mean = tf.reduce_mean(flat, axis=[2], keepdims=True)
        centered = flat - mean
        variance = tf.reduce_mean(tf.square(centered), axis=[2], keepdims=True)
        # tf.raw_ops.Add: the pattern names TensorFlow 1's Add, which `+` no longer makes.
        inv = tf.math.rsqrt(tf.raw_ops.Add(x=variance, y=tf.constant(self.epsilon)))
        normed = tf.raw_ops.Add(x=inv * gamma * centered, y=beta)
        return tf.reshape(normed, shape)


class NormInputs:
    """What one transformer call gives its conditional instance norms besides the style
    vector, each CIN taking its slice in call order (`take`):

    - `moments` [B,M] with `weight` [B,1]: each CIN normalises with
      `w * given + (1 - w) * own` moments (None: its own);
    - `offsets` [B,M]: added to each CIN's beta and gamma (a tuned style's per-layer
      parameters, see `norm_params`; None: none);

    and it records each CIN's own moments (`own_moments`). Layout of M: per CIN in call
    order, C values then C values: means then variances, beta then gamma offsets.
    """

    def __init__(self, moments=None, weight=None, offsets=None):
        self.given, self.weight, self.offsets = moments, weight, offsets
        self.own = []
        self._next = 0

    def take(self, channels):
        """The start of the next CIN's 2*channels values in M (once per CIN, in call order)."""
        start, self._next = self._next, self._next + 2 * channels
        return start

    def shift(self, start, beta, gamma):
        """beta and gamma [B,C] plus the offsets at `start`."""
        if self.offsets is None:
            return beta, gamma
        channels = int(beta.shape[-1])
        return (beta + self.offsets[:, start:start + channels],
                gamma + self.offsets[:, start + channels:start + 2 * channels])

    def mix(self, start, mean, variance):
        """Records mean and variance [B,1,1,C]; returns the ones to normalise with."""
        channels = int(mean.shape[-1])
        self.own += [mean[:, 0, 0, :], variance[:, 0, 0, :]]
        if self.given is None:
            return mean, variance
        w = self.weight[:, :, None, None]
        given = self.given[:, None, None, start:start + 2 * channels]
        return (w * given[..., :channels] + (1.0 - w) * mean,
                w * given[..., channels:] + (1.0 - w) * variance)

    def own_moments(self):
        """All recorded moments, [B, M]."""
        return tf.concat(self.own, axis=1)


def apply_in_turn(layers, inputs, *args, **kwargs):
    """`inputs` through each of `layers` in order, each called with the same extra arguments
    (a style vector, NormInputs, `training`)."""
    for layer in layers:
        inputs = layer(inputs, *args, **kwargs)
    return inputs


class Block(keras.layers.Layer):
    """A named scope holding sublayers; they are built on first call, inside it."""

    def build(self, input_shape):
        del input_shape  # Sublayers build themselves when first called, under this scope.
