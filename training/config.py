"""The jobs' settings as dataclasses (the command lines fill them from flags)."""

import dataclasses

from arbitrary_style.losses import LossConfig
from training.data import StyleAugmentation
from training.loop import LoopConfig


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where images come from and how they are cut (see training/data.py)."""

    content: str | None = None
    style: str | None = None
    data_dir: str | None = None
    image_size: int = 256
    style_image_size: int = 256
    batch_size: int = 8
    seed: int = 0
    augmentation: StyleAugmentation | None = StyleAugmentation()


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """How the training and distillation jobs optimize."""

    loop: LoopConfig
    learning_rate: float = 1e-5  # Magenta's default.
    strategy: str = "default"
    clip_gradient_norm: float = 0.0  # > 0: clip each gradient to this norm (Magenta's); 0: off.


@dataclasses.dataclass(frozen=True)
class LossNetworkConfig:
    """The VGG losses and the VGG weights ('imagenet', None for random, or a file)."""

    losses: LossConfig = LossConfig()
    vgg_weights: str | None = "imagenet"
