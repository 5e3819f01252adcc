"""The two style-predictor backbones, laid out and named as TF-slim's nets.

They are written out here rather than taken from `keras.applications` because
Keras names layers `block_5_depthwise` / `conv2d_57` while every published weight
file names them by slim scope (`MobilenetV2/expanded_conv_5/depthwise`,
`InceptionV3/Mixed_6e/Branch_1/Conv2d_0b_1x7`), and because slim pads stride-2
convs SAME for every input size (keras.applications' MobileNetV2 assumes even sizes).
"""

import keras

from arbitrary_style.layers import (
    Block, SlimConv2D, SlimDepthwiseConv2D, apply_in_turn, batch_norm)

# --- MobileNetV2 (width 1.0) up to layer_19 -----------------------------------------

# (expansion t, output channels c, repeats n, first stride s) as in the paper / slim V2_DEF.
_MOBILENET_V2_BLOCKS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                        (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def _mobilenet_batch_norm():
    """mobilenet_v2.training_scope: BatchNorm with scale (gamma), decay 0.997."""
    return batch_norm(momentum=0.997, scale=True)


def _mobilenet_conv(filters, kernel_size, name, strides=1, activation="relu6"):
    return SlimConv2D(filters, kernel_size, strides=strides, normalizer=_mobilenet_batch_norm(),
                      activation=activation, name=name)


class ExpandedConv(Block):
    """Inverted residual: 1x1 expand, 3x3 depthwise, 1x1 linear project (+ input)."""

    def __init__(self, in_channels, expansion, out_channels, strides, **kwargs):
        super().__init__(**kwargs)
        hidden = in_channels * expansion
        self.expand = _mobilenet_conv(hidden, 1, "expand") if expansion > 1 else None
        self.depthwise = SlimDepthwiseConv2D(3, strides=strides, activation="relu6",
                                             batch_norm=_mobilenet_batch_norm(), name="depthwise")
        self.project = _mobilenet_conv(out_channels, 1, "project", activation=None)
        self.residual = strides == 1 and in_channels == out_channels

    def call(self, inputs, training=None):
        x = self.expand(inputs, training=training) if self.expand else inputs
        x = self.project(self.depthwise(x, training=training), training=training)
        return inputs + x if self.residual else x


class MobilenetV2(Block):
    """MobileNetV2 1.0 features up to `layer_19` (Conv_1, 1280 channels, ReLU6)."""

    output_channels = 1280

    def __init__(self, **kwargs):
        super().__init__(name="MobilenetV2", **kwargs)
        self.stem = _mobilenet_conv(32, 3, "Conv", strides=2)
        self.blocks = []
        channels = 32
        for expansion, out_channels, repeats, first_stride in _MOBILENET_V2_BLOCKS:
            for i in range(repeats):
                index = len(self.blocks)
                name = "expanded_conv" + (f"_{index}" if index else "")
                self.blocks.append(ExpandedConv(channels, expansion, out_channels,
                                                first_stride if i == 0 else 1, name=name))
                channels = out_channels
        self.head = _mobilenet_conv(self.output_channels, 1, "Conv_1")

    def call(self, inputs, training=None):
        x = apply_in_turn(self.blocks, self.stem(inputs, training=training), training=training)
        return self.head(x, training=training)


# --- InceptionV3 up to Mixed_6e --------------------------------------------------------

def _inception_conv(filters, kernel_size, name, strides=1, padding="same"):
    """Magenta's inception arg scope: BatchNorm without scale, decay 0.9997, ReLU6."""
    return SlimConv2D(filters, kernel_size, strides=strides, padding=padding,
                      normalizer=batch_norm(momentum=0.9997, scale=False), activation="relu6",
                      name=name)


def _parse_conv_name(name):
    """'Conv2d_0b_1x7' -> kernel (1, 7); the kernel size is in slim's scope name."""
    rows, cols = name.rsplit("_", 1)[1].split("x")
    return int(rows), int(cols)


class Branch(Block):
    """One inception branch: an optional 3x3 pool, then a chain of `(scope, filters)` convs.

    With `reduce`, the last conv is Mixed_6a's 3x3 stride-2 VALID one (which slim
    names `Conv2d_1a_1x1` despite its 3x3 kernel).
    """

    def __init__(self, convs, pool=None, reduce=False, **kwargs):
        super().__init__(**kwargs)
        self.pool = pool
        layers = [_inception_conv(filters, _parse_conv_name(conv_name), conv_name)
                  for conv_name, filters in (convs[:-1] if reduce else convs)]
        if reduce:
            conv_name, filters = convs[-1]
            layers.append(_inception_conv(filters, 3, conv_name, strides=2, padding="valid"))
        self.convs = layers  # Assigned whole: Keras tracks the list's layers on assignment.

    def call(self, inputs, training=None):
        x = self.pool(inputs) if self.pool else inputs
        return apply_in_turn(self.convs, x, training=training)


class Mixed(Block):
    """An inception module: its branch layers' outputs concatenated on channels."""

    def __init__(self, branches, **kwargs):
        super().__init__(**kwargs)
        self.branches = branches

    def call(self, inputs, training=None):
        return keras.ops.concatenate([b(inputs, training=training) for b in self.branches], -1)


def _avg_pool():
    return keras.layers.AveragePooling2D(3, strides=1, padding="same", name="AvgPool_0a_3x3")


def _mixed_35(pool_filters, branch_1_names, name):
    """Mixed_5b/5c/5d (35x35)."""
    return Mixed([
        Branch([("Conv2d_0a_1x1", 64)], name="Branch_0"),
        Branch([(branch_1_names[0], 48), (branch_1_names[1], 64)], name="Branch_1"),
        Branch([("Conv2d_0a_1x1", 64), ("Conv2d_0b_3x3", 96), ("Conv2d_0c_3x3", 96)],
               name="Branch_2"),
        Branch([("Conv2d_0b_1x1", pool_filters)], pool=_avg_pool(), name="Branch_3"),
    ], name=name)


def _mixed_17(width, name):
    """Mixed_6b..6e (17x17) with factorized 7x7 convs of `width` channels."""
    return Mixed([
        Branch([("Conv2d_0a_1x1", 192)], name="Branch_0"),
        Branch([("Conv2d_0a_1x1", width), ("Conv2d_0b_1x7", width), ("Conv2d_0c_7x1", 192)],
               name="Branch_1"),
        Branch([("Conv2d_0a_1x1", width), ("Conv2d_0b_7x1", width), ("Conv2d_0c_1x7", width),
                ("Conv2d_0d_7x1", width), ("Conv2d_0e_1x7", 192)], name="Branch_2"),
        Branch([("Conv2d_0b_1x1", 192)], pool=_avg_pool(), name="Branch_3"),
    ], name=name)


class InceptionV3(Block):
    """InceptionV3 features up to `Mixed_6e` (768 channels)."""

    output_channels = 768

    def __init__(self, **kwargs):
        super().__init__(name="InceptionV3", **kwargs)
        self.layers_in_order = [
            _inception_conv(32, 3, "Conv2d_1a_3x3", strides=2, padding="valid"),
            _inception_conv(32, 3, "Conv2d_2a_3x3", padding="valid"),
            _inception_conv(64, 3, "Conv2d_2b_3x3"),
            keras.layers.MaxPooling2D(3, strides=2, name="MaxPool_3a_3x3"),
            _inception_conv(80, 1, "Conv2d_3b_1x1", padding="valid"),
            _inception_conv(192, 3, "Conv2d_4a_3x3", padding="valid"),
            keras.layers.MaxPooling2D(3, strides=2, name="MaxPool_5a_3x3"),
            _mixed_35(32, ("Conv2d_0a_1x1", "Conv2d_0b_5x5"), "Mixed_5b"),
            _mixed_35(64, ("Conv2d_0b_1x1", "Conv_1_0c_5x5"), "Mixed_5c"),
            _mixed_35(64, ("Conv2d_0a_1x1", "Conv2d_0b_5x5"), "Mixed_5d"),
            Mixed([
                Branch([("Conv2d_1a_1x1", 384)], reduce=True, name="Branch_0"),
                Branch([("Conv2d_0a_1x1", 64), ("Conv2d_0b_3x3", 96), ("Conv2d_1a_1x1", 96)],
                       reduce=True, name="Branch_1"),
                keras.layers.MaxPooling2D(3, strides=2, name="Branch_2"),
            ], name="Mixed_6a"),
            _mixed_17(128, "Mixed_6b"),
            _mixed_17(160, "Mixed_6c"),
            _mixed_17(160, "Mixed_6d"),
            _mixed_17(192, "Mixed_6e"),
        ]

    def call(self, inputs, training=None):
        return apply_in_turn(self.layers_in_order, inputs, training=training)


BACKBONES = {"mobilenet_v2": MobilenetV2, "inception_v3": InceptionV3}
