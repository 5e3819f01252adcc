"""The style transfer network T(content, style vector) -> stylized image."""

import contextlib

import keras
import tensorflow as tf

from arbitrary_style.layers import (
    Block, ConditionalInstanceNorm, NormInputs, SlimConv2D, apply_in_turn, batch_norm)
from arbitrary_style.model_config import SIZE_MULTIPLE


def _styled_conv(name, filters, kernel_size, activation):
    return SlimConv2D(filters, kernel_size, padding="reflect", activation=activation,
                      normalizer=ConditionalInstanceNorm(filters), name=name)


class ResidualBlock(Block):
    """conv1 -> CIN -> ReLU -> conv2 -> CIN, plus the block input."""

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = _styled_conv("conv1", filters, 3, "relu")
        self.conv2 = _styled_conv("conv2", filters, 3, None)

    def call(self, inputs, style_vector, norm=None):
        h = self.conv1(inputs, style_vector, norm=norm)
        return inputs + self.conv2(h, style_vector, norm=norm)


class UpsampleConv(Block):
    """Nearest-neighbour upsampling by `factor`, then a styled conv named `conv`."""

    channels_first = False  # See StyleTransferNetwork.light_graph_layout.

    def __init__(self, filters, kernel_size, factor, activation, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor
        self.conv = _styled_conv("conv", filters, kernel_size, activation)

    def call(self, inputs, style_vector, norm=None):
        if self.factor > 1 and self.channels_first:  # Upsampled inside the conv.
            return self.conv._call_channels_first(inputs, style_vector, norm,
                                                  upsample=self.factor)
        if self.factor > 1:
            inputs = tf.repeat(tf.repeat(inputs, self.factor, axis=1), self.factor, axis=2)
        return self.conv(inputs, style_vector, norm=norm)


class Contract(Block):
    """The encoder: three conv -> BatchNorm -> ReLU layers, not style-conditioned."""

    def __init__(self, alpha, **kwargs):
        super().__init__(**kwargs)
        self.convs = [
            SlimConv2D(int(alpha * depth), kernel, strides=stride, padding="reflect",
                       normalizer=batch_norm(momentum=0.999, scale=False), activation="relu",
                       name=f"conv{i}")
            for i, (kernel, stride, depth) in enumerate([(9, 1, 32), (3, 2, 64), (3, 2, 128)], 1)
        ]

    channels_first = False  # See StyleTransferNetwork.light_graph_layout.

    def call(self, inputs, training=None):
        if self.channels_first:
            # conv1 computed on 2x2 pixel blocks, which conv2 (stride 2) reads as they
            # are: 3 -> 8 channels at alpha 0.25 fill onnxruntime's 16-channel blocks as
            # 12 -> 32, and the full-resolution 8-channel map is never formed.
            first, second, third = self.convs
            blocks = first.blocks_channels_first(inputs, 2)
            return third(second.strided_on_blocks_channels_first(blocks))
        return apply_in_turn(self.convs, inputs, training=training)


class Residual(Block):
    def __init__(self, alpha, **kwargs):
        super().__init__(**kwargs)
        self.blocks = [ResidualBlock(int(alpha * 128), name=f"residual{i}") for i in range(1, 6)]

    def call(self, inputs, style_vector, norm=None):
        return apply_in_turn(self.blocks, inputs, style_vector, norm=norm)


class Expand(Block):
    """The decoder: two upsampling styled convs and a final 9x9 conv with sigmoid."""

    def __init__(self, alpha, **kwargs):
        super().__init__(**kwargs)
        self.convs = [
            UpsampleConv(int(alpha * 64), 3, 2, "relu", name="conv1"),
            UpsampleConv(int(alpha * 32), 3, 2, "relu", name="conv2"),
            UpsampleConv(3, 9, 1, "sigmoid", name="conv3"),
        ]

    def call(self, inputs, style_vector, norm=None):
        return apply_in_turn(self.convs, inputs, style_vector, norm=norm)


class StyleTransferNetwork(keras.Model):
    """T(content [B,H,W,3] in [0,1], style vector [B,100]) -> stylized [B,H,W,3] in [0,1].

    The content is mirror-padded to a multiple of 4 and the output cropped back, which
    leaves multiples of 4 exactly as Magenta computes them. The network itself takes sides
    of 9 pixels and more (8 and less fail in the contract path's mirror padding); the
    inference API asks for MIN_CONTENT_SIDE (16).
    """

    channels_first = False  # See light_graph_layout.

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(name="transformer", **kwargs)
        self.alpha = alpha
        self.contract = Contract(alpha, name="contract")
        self.residual = Residual(alpha, name="residual")
        self.expand = Expand(alpha, name="expand")

    def build(self, input_shape):
        del input_shape  # Sublayers build on first call, under the `transformer` scope.

    @property
    def moments_size(self):
        """M, the length of one image's instance-norm moments, and of its norm offsets
        (see NormInputs)."""
        return 2 * sum(layer.beta_head.units for layer in self._flatten_layers()
                       if isinstance(layer, ConditionalInstanceNorm))

    @contextlib.contextmanager
    def blocked_output_conv(self, block=4):
        """Within: the final 9x9 conv (8 -> 3 channels at alpha 0.25) computes on 4x4-pixel
        blocks (`layers.blocked_conv2d`): the same network, traced for the light graphs,
        where onnxruntime runs it 15% faster (BUILD_NOTES). Its input is a multiple of 4
        plus the 8 pixels of mirror padding, so a multiple of 4."""
        conv = self.expand.convs[-1].conv
        conv.pixel_block = block
        try:
            yield
        finally:
            conv.pixel_block = 1

    @contextlib.contextmanager
    def light_graph_layout(self):
        """Within: the network computes on NCHW tensors inside (the content and the result
        stay NHWC; one transpose at each end), each CIN as the pattern tf2onnx converts
        to one InstanceNormalization, BatchNorm as a scale and shift onnxruntime folds into
        the conv, the upsampling convs on their inputs' resolution
        (`layers.upsampled_conv2d`) and the first two convs on 2x2-pixel blocks
        (`Contract.call`): the same network, traced for the light graphs, where onnxruntime
        then needs no layout flips between layers and fills its 16-channel blocks
        (BUILD_NOTES, issue 26). Traceable only (no NCHW convolutions on TensorFlow's CPU
        kernels), and without given moments."""
        switched = [layer for layer in self._flatten_layers()
                    if isinstance(layer, (SlimConv2D, UpsampleConv))] + [self]
        switched.append(self.contract)
        for layer in switched:
            layer.channels_first = True
        try:
            yield
        finally:
            for layer in switched:
                layer.channels_first = False

    def transfer_with_moments(self, content, style_vector, moments, moments_weight,
                              norm_offsets=None):
        """(stylized, own moments [B,M]): each CIN normalises with
        `w * moments + (1 - w) * own` (moments [B,M], moments_weight w [B,1]) and adds
        `norm_offsets` [B,M] (None: none) to its beta and gamma (see NormInputs)."""
        norm = NormInputs(moments, moments_weight, norm_offsets)
        stylized = self(content, style_vector, training=False, norm=norm)
        return stylized, norm.own_moments()

    def call(self, content, style_vector, training=None, norm=None):
        """`norm`: an optional NormInputs (given moments, norm offsets) for the CINs."""
        height, width = tf.shape(content)[1], tf.shape(content)[2]
        # (m - n % m) % m rather than -n % m: tf2onnx converts the floor modulo of a
        # negative number as C's remainder (-1030 % 4 = -2), which cropped instead.
        pad_h = (SIZE_MULTIPLE - height % SIZE_MULTIPLE) % SIZE_MULTIPLE
        pad_w = (SIZE_MULTIPLE - width % SIZE_MULTIPLE) % SIZE_MULTIPLE
        if self.channels_first:
            padded = tf.pad(tf.transpose(content, [0, 3, 1, 2]),
                            [[0, 0], [0, 0], [0, pad_h], [0, pad_w]], mode="REFLECT")
        else:
            padded = tf.pad(content, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]], mode="REFLECT")
        h = self.contract(padded, training=training)
        h = self.residual(h, style_vector, norm=norm)
        h = self.expand(h, style_vector, norm=norm)
        if self.channels_first:
            return tf.transpose(h[:, :, :height, :width], [0, 2, 3, 1])
        return h[:, :height, :width, :]
