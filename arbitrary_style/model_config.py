"""What fixes the networks' shapes, in a module light enough for every inference path
(no TensorFlow): the model config, the networks' fixed sizes, and the input arrays that
both StyleModel and the light LightModel build for a transformer call."""

import dataclasses

import numpy as np

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


def transfer_inputs(content_image, style_vector):
    """(content, batch [B,H,W,3] float32, vectors [B,100]) for a transformer call."""
    content = np.asarray(content_image, np.float32)
    batch = content if content.ndim == 4 else content[None]
    if min(batch.shape[1:3]) < MIN_CONTENT_SIDE:
        raise ValueError(f"content is {batch.shape[2]}x{batch.shape[1]} pixels; each side "
                         f"must be at least {MIN_CONTENT_SIDE}")
    vectors = np.broadcast_to(np.asarray(style_vector, np.float32).reshape(
        -1, STYLE_VECTOR_SIZE), (len(batch), STYLE_VECTOR_SIZE))
    return content, batch, np.ascontiguousarray(vectors)


def moments_inputs(moments, moments_weight, batch_size, moments_size):
    """(given [B,M], weight [B,1]) float32 arrays; moments None means weight 0."""
    if moments is None:
        return (np.zeros((batch_size, moments_size), np.float32),
                np.zeros((batch_size, 1), np.float32))
    given = np.asarray(moments, np.float32)
    if given.shape[-1] != moments_size:
        raise ValueError(f"moments have {given.shape[-1]} values per image; this model "
                         f"needs {moments_size}")
    weight = np.asarray(moments_weight, np.float32).reshape(-1, 1)
    return (np.ascontiguousarray(np.broadcast_to(given.reshape(-1, moments_size),
                                                 (batch_size, moments_size))),
            np.ascontiguousarray(np.broadcast_to(weight, (batch_size, 1))))
