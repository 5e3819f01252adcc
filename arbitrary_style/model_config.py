"""What fixes the networks' shapes, in a module light enough for every inference path
(no TensorFlow): the model config and the networks' fixed sizes."""

import dataclasses

# The style predictor backbones (arbitrary_style.backbones.BACKBONES builds them).
BACKBONE_NAMES = ("inception_v3", "mobilenet_v2")

STYLE_VECTOR_SIZE = 100
# The transformer's contract path halves the size twice; inputs are mirror-padded to a
# multiple of this.
SIZE_MULTIPLE = 4
# Below this the transformer's mirror padding (9x9 kernels, two stride-2 convs) has no room.
MIN_CONTENT_SIDE = 16
# Style images are resized to this many pixels on their shorter side (the training size).
DEFAULT_STYLE_SIZE = 256
# Style images are center-cropped to at most this aspect ratio (long side : short side)
# before resizing: a 50000x3 strip resized to 256 on its short side would be 4.3 Gpx.
MAX_STYLE_ASPECT = 4.0
# The epsilon of every batch norm (Magenta's slim default).
BATCH_NORM_EPSILON = 1e-3


def norm_layers(alpha):
    """[(layer, channels)] of the transformer's conditional instance norms in call order
    (the layout of instance-norm moments and norm offsets, `layers.NormInputs`); a layer
    is named by its Magenta scope below `transformer/`."""
    residual = [(f"residual/residual{block}/conv{conv}", int(alpha * 128))
                for block in range(1, 6) for conv in (1, 2)]
    return residual + [("expand/conv1/conv", int(alpha * 64)),
                       ("expand/conv2/conv", int(alpha * 32)), ("expand/conv3/conv", 3)]


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """What fixes the shapes of the weights: the predictor backbone and transformer width."""

    backbone: str = "inception_v3"
    alpha: float = 1.0

    def __post_init__(self):
        if self.backbone not in BACKBONE_NAMES:
            raise ValueError(f"unknown backbone {self.backbone!r}; "
                             f"choose one of {sorted(BACKBONE_NAMES)}")
        if not 0 < self.alpha <= 4 or int(self.alpha * 32) < 1:
            raise ValueError(f"alpha must be in (0, 4], got {self.alpha}")

