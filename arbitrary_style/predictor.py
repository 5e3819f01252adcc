"""The style prediction network P(style image) -> 100-d style vector."""

import keras

from arbitrary_style.backbones import BACKBONES
from arbitrary_style.layers import Block
from arbitrary_style.model_config import STYLE_VECTOR_SIZE

# Magenta's scope of the 1x1 bottleneck conv after the spatial mean, per backbone.
HEAD_SCOPES = {"mobilenet_v2": "mobilenet_conv", "inception_v3": None}


def head_scope(backbone):
    """The scope of the 100-d bottleneck layer: `mobilenet_conv/Conv` or `Conv`."""
    return "/".join(filter(None, [HEAD_SCOPES[backbone], "Conv"]))


class HeadScope(Block):
    """A bare scope (e.g. `mobilenet_conv`) around the bottleneck layer `Conv`."""

    def __init__(self, head, **kwargs):
        super().__init__(**kwargs)
        self.head = head

    def call(self, inputs):
        return self.head(inputs)


def build_style_predictor(backbone="mobilenet_v2"):
    """Returns a Keras model mapping [B,H,W,3] images in [0,1] to [B,100] style vectors.

    The image is used as it is (no ImageNet normalisation): that is how the published
    weights were trained. Variables are named as Magenta's (`MobilenetV2/...`,
    `mobilenet_conv/Conv/...` or `InceptionV3/...`, `Conv/...`), because a functional
    model adds no scope of its own.
    """
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; choose one of {sorted(BACKBONES)}")
    image = keras.Input((None, None, 3), name="style_image")
    features = BACKBONES[backbone]()(image)
    pooled = keras.layers.GlobalAveragePooling2D(name="bottleneck")(features)
    head = keras.layers.Dense(STYLE_VECTOR_SIZE, name="Conv")
    if HEAD_SCOPES[backbone]:
        head = HeadScope(head, name=HEAD_SCOPES[backbone])
    return keras.Model(image, head(pooled), name=f"style_predictor_{backbone}")
