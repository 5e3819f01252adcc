"""Flags shared by the training, distillation and evaluation jobs, and the configs they fill.

Flags are defined by `define_*` functions that a job calls only when it runs as a
command, so importing a job (tests, other tools) defines no global flags.
"""

import json

from absl import flags

from arbitrary_style import common_flags as arbitrary_style_flags, loss_flags
from arbitrary_style.errors import UserError
from training.config import DataConfig, LossNetworkConfig, OptimizerConfig
from training.data import StyleAugmentation
from training.loop import STRATEGIES, LoopConfig

FLAGS = flags.FLAGS


def define_data_flags():
    flags.DEFINE_string("content", None, "Content images: a tensorflow-datasets name "
                        "(e.g. imagenet2012, coco/2017), a directory, an image file or a glob.")
    flags.DEFINE_string("style", None, "Style images: a tensorflow-datasets name (e.g. dtd), "
                        "a directory, an image file or a glob.")
    flags.DEFINE_string("data_dir", None, "tensorflow-datasets data directory.")
    flags.DEFINE_integer("image_size", 256, "Side of the square content crops.", lower_bound=16)
    flags.DEFINE_integer("style_image_size", 256, "Side of the square style crops.",
                         lower_bound=16)
    flags.DEFINE_integer("batch_size", 8, "Global batch size (split over replicas).",
                         lower_bound=1)
    flags.DEFINE_integer("seed", 0, "Seed for data order and augmentation.")
    # Magenta's style augmentation.
    defaults = StyleAugmentation()
    flags.DEFINE_bool("augment_style", True, "Augment style images (the options below).")
    flags.DEFINE_bool("random_style_size", defaults.random_size, "Resize each style image to a "
                      "random shorter side in [style_min_side, style_max_side] before cropping.")
    flags.DEFINE_integer("style_min_side", defaults.min_side, "Smallest random style size.",
                         lower_bound=1)
    flags.DEFINE_integer("style_max_side", defaults.max_side, "Largest random style size.",
                         lower_bound=1)
    flags.DEFINE_bool("style_random_crop", defaults.random_crop,
                      "Crop style images at random positions.")
    flags.DEFINE_bool("style_flips", defaults.flip_left_right,
                      "Random horizontal and vertical flips of style images.")
    flags.DEFINE_float("brightness_delta", defaults.brightness_delta,
                       "Style brightness jitter (+- delta, on [0, 1]).")
    flags.DEFINE_float("contrast_delta", defaults.contrast_delta,
                       "Style contrast jitter (factor 1 +- delta).")
    flags.DEFINE_float("saturation_delta", defaults.saturation_delta,
                       "Style saturation jitter (factor 1 +- delta).")
    flags.DEFINE_float("hue_delta", defaults.hue_delta, "Style hue jitter (+- turns).")


def define_optimizer_flags():
    flags.DEFINE_string("model_dir", None, "Checkpoints and TensorBoard summaries go here; a "
                        "job restarted with the same directory resumes.")
    flags.DEFINE_integer("train_steps", 100_000, "Total optimizer steps.", lower_bound=1)
    flags.DEFINE_float("learning_rate", 1e-5, "Adam learning rate (Magenta's default).",
                       lower_bound=0)
    flags.DEFINE_float("clip_gradient_norm", 0.0, "Clip each variable's gradient (of the "
                       "global batch) to this L2 norm, as Magenta's clip_gradient_norm; "
                       "0 = off (Magenta's default).", lower_bound=0)
    flags.DEFINE_enum("strategy", "default", list(STRATEGIES), "tf.distribute strategy: "
                      "default (one device), mirrored (all local GPUs, else the logical CPUs), "
                      "multi_worker (several machines, TF_CONFIG).")
    flags.DEFINE_integer("log_every", 10, "Progress line every N steps.", lower_bound=1)
    flags.DEFINE_integer("summary_every", 100, "TensorBoard scalars every N steps.",
                         lower_bound=1)
    flags.DEFINE_integer("image_summary_every", 1000, "TensorBoard images every N steps.",
                         lower_bound=1)
    flags.DEFINE_integer("save_every", 1000, "Checkpoint every N steps.", lower_bound=1)
    arbitrary_style_flags.define("output")
    flags.DEFINE_bool("imagenet_backbone", False, "Start the (student) predictor's backbone "
                      "from the ImageNet weights of keras.applications (downloaded once).")


def data_config():
    augmentation = StyleAugmentation(
        random_size=FLAGS.random_style_size, min_side=FLAGS.style_min_side,
        max_side=FLAGS.style_max_side, random_crop=FLAGS.style_random_crop,
        flip_left_right=FLAGS.style_flips, flip_up_down=FLAGS.style_flips,
        brightness_delta=FLAGS.brightness_delta, contrast_delta=FLAGS.contrast_delta,
        saturation_delta=FLAGS.saturation_delta, hue_delta=FLAGS.hue_delta,
    ) if FLAGS.augment_style else None
    return DataConfig(content=FLAGS.content, style=FLAGS.style, data_dir=FLAGS.data_dir,
                      image_size=FLAGS.image_size, style_image_size=FLAGS.style_image_size,
                      batch_size=FLAGS.batch_size, seed=FLAGS.seed, augmentation=augmentation)


def loss_network_config():
    losses, vgg_weights = loss_flags.loss_from_flags()
    return LossNetworkConfig(losses=losses, vgg_weights=vgg_weights)


def optimizer_config():
    require("model_dir")
    loop = LoopConfig(model_dir=FLAGS.model_dir, train_steps=FLAGS.train_steps,
                      log_every=FLAGS.log_every, summary_every=FLAGS.summary_every,
                      image_summary_every=FLAGS.image_summary_every, save_every=FLAGS.save_every)
    return OptimizerConfig(loop=loop, learning_rate=FLAGS.learning_rate, strategy=FLAGS.strategy,
                           clip_gradient_norm=FLAGS.clip_gradient_norm)


def require(*names):
    """UserError naming the first of these flags that is not set."""
    for name in names:
        if FLAGS[name].value in (None, ""):
            raise UserError(f"--{name} is required (see --help)")


def job_main(job, config_from_flags):
    """An absl main: builds the job's config from flags, runs it, prints its result as JSON
    (without the per-step history, which is in the logs and TensorBoard)."""
    def main(argv):
        result = job(config_from_flags())
        print(json.dumps({k: v for k, v in result.items() if k != "history"}, indent=2))
        return 0
    return main
