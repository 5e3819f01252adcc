"""Train the arbitrary-style network (style predictor + transformer) on your own images.

  python -m training.train --content coco/2017 --style dtd --model_dir runs/paper \\
      --backbone inception_v3 --alpha 1.0 --imagenet_backbone
  python -m training.train --content photos/ --style paintings/ --model_dir runs/mine \\
      --init_weights magenta-mobile
  python -m training.train --content photos/ --single_style starry.jpg --model_dir runs/starry

With --single_style the predictor is replaced by one learned style vector: the per-style
fast network of Johnson et al. as a special case of the same code. Its weights are saved
with that vector as the predictor head's bias (and a zero kernel), so `stylize` and the
exporters use it like any other weights.

A job restarted with the same --model_dir resumes from its latest checkpoint. The trained
weights go to --output (a weights directory in the project's format; default
MODEL_DIR/weights). TensorBoard: `tensorboard --logdir MODEL_DIR/summaries`.
"""

import dataclasses
import pathlib

import keras
import tensorflow as tf
from absl import flags, logging

from arbitrary_style import cli, loss_flags
from arbitrary_style.errors import UserError
from arbitrary_style.image_io import load_image
from arbitrary_style.losses import StyleLoss
from arbitrary_style.model import ModelConfig, StyleModel
from arbitrary_style.predictor import head_scope
from arbitrary_style.model_config import STYLE_VECTOR_SIZE
from arbitrary_style.weights import store
from training import common_flags, data, run_dir
from training.config import DataConfig, LossNetworkConfig, OptimizerConfig
from training.loop import TrainingLoop, apply_gradients, is_chief, make_strategy
from training.run_dir import RunConfig


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    data: DataConfig
    optimizer: OptimizerConfig
    loss: LossNetworkConfig = LossNetworkConfig()
    backbone: str | None = None  # None: that of init_weights, else the paper's.
    alpha: float | None = None
    init_weights: str | None = None
    imagenet_backbone: bool = False
    single_style: str | None = None
    output: str | None = None  # None: MODEL_DIR/weights.


def set_single_style(model, style_vector):
    """Makes the predictor ignore its input: P(anything) = `style_vector` [1, 100]."""
    head = head_scope(model.config.backbone)
    kernel = model.variables[f"{head}/kernel"]
    kernel.assign(tf.zeros_like(kernel))
    model.variables[f"{head}/bias"].assign(style_vector[0])


def model_config(config, resumed=None):
    """Backbone and alpha as asked, falling back to those of the run being `resumed`
    (a RunConfig), of the init weights, then the paper's."""
    init = store.read_config(store.resolve_weights(config.init_weights))[0] \
        if config.init_weights else ModelConfig()
    fallback = resumed.model_config if resumed else init
    wanted = ModelConfig(backbone=config.backbone or fallback.backbone,
                         alpha=config.alpha or fallback.alpha)
    if config.init_weights and wanted != init:
        raise UserError(f"init weights {config.init_weights} are backbone={init.backbone} "
                        f"alpha={init.alpha}, not {wanted.backbone} {wanted.alpha}")
    return wanted


def build_model(config, model_config):
    if config.init_weights:
        return store.load_model(store.resolve_weights(config.init_weights))
    model = StyleModel(model_config)
    if config.imagenet_backbone:
        from arbitrary_style.weights.imagenet import load_imagenet_backbone

        load_imagenet_backbone(model, model_config.backbone)
    return model


def datasets(config, seed):
    """(content batch, style batch) pairs and the counters of skipped unreadable files."""
    source = config.data
    content, content_skips = data.content_dataset(
        source.content, image_size=source.image_size, batch_size=source.batch_size, seed=seed,
        data_dir=source.data_dir)
    style, style_skips = data.style_dataset(
        config.single_style or source.style, image_size=source.style_image_size,
        batch_size=1 if config.single_style else source.batch_size,
        augment=source.augmentation, seed=seed + 1, data_dir=source.data_dir)
    return tf.data.Dataset.zip((content, style)), (content_skips, style_skips)


def train(config):
    """Runs a training job; returns weights dir, step, last losses and {step: losses}."""
    if not config.data.content or not (config.data.style or config.single_style):
        raise UserError("training needs content images and --style (or --single_style)")
    model_dir = pathlib.Path(config.optimizer.loop.model_dir)
    architecture = model_config(config, run_dir.read_run_config(model_dir))
    run_dir.claim_run(model_dir, RunConfig(
        "train", architecture.backbone, architecture.alpha,
        single_style=str(pathlib.Path(config.single_style).resolve())
        if config.single_style else None))

    strategy = make_strategy(config.optimizer.strategy)  # Before TensorFlow runs anything.
    keras.utils.set_random_seed(config.data.seed)  # Reproducible initial weights.
    with strategy.scope():
        model = build_model(config, architecture)
        loss_net = StyleLoss(config.loss.losses, weights=config.loss.vgg_weights)
        optimizer = keras.optimizers.Adam(config.optimizer.learning_rate)
        trackables = run_dir.checkpointed(model)
        if config.single_style:
            # From scratch a zero vector; from pretrained weights, the predicted one.
            initial = model.predict_style(load_image(config.single_style))[None] \
                if config.init_weights else tf.zeros([1, STYLE_VECTOR_SIZE])
            style_vector = tf.Variable(initial, name="style_vector")
            trackables["style_vector"] = style_vector
            variables = [style_vector, *model.transformer.trainable_variables]
        else:
            variables = model.predictor.trainable_variables + model.transformer.trainable_variables
        optimizer.build(variables)

    def style_vectors(content, style, training):
        if config.single_style:
            return tf.broadcast_to(style_vector, [tf.shape(content)[0], STYLE_VECTOR_SIZE])
        return model.predictor(style, training=training)

    def step_fn(batch):
        content, style = batch
        with tf.GradientTape() as tape:
            vectors = style_vectors(content, style, training=True)
            stylized = model.transformer(content, vectors, training=True)
            total, parts = loss_net(stylized, content, style)
            scaled = total / strategy.num_replicas_in_sync
        apply_gradients(optimizer, tape.gradient(scaled, variables), variables,
                        config.optimizer.clip_gradient_norm)
        return parts

    def image_fn(batch):
        content, style = batch
        stylized = model.transformer(content, style_vectors(content, style, False),
                                     training=False)
        return {"content": content, "style": style, "stylized": stylized}

    skip_counters = []

    def make_dataset(start_step):  # Seeded by the start step: resumed runs are reproducible.
        dataset, counters = datasets(config, config.data.seed + start_step)
        skip_counters.extend(counters)
        return dataset

    loop = TrainingLoop(config.optimizer.loop, strategy, optimizer, trackables)
    history = loop.run(step_fn, make_dataset, image_fn)
    skipped = sum(counter.count for counter in skip_counters)
    if skipped:
        logging.warning("%d unreadable image files were skipped", skipped)
    output = pathlib.Path(config.output or model_dir / "weights")
    if is_chief(strategy):
        if config.single_style:
            set_single_style(model, style_vector)
        store.save_model(model, output, source=f"training.train --model_dir {model_dir}")
    last = history[max(history)] if history else {}
    return {"weights": str(output), "step": loop.step, "losses": last, "history": history,
            "skipped_unreadable": skipped}


def define_flags():
    common_flags.define_data_flags()
    loss_flags.define_loss_flags()
    common_flags.define_optimizer_flags()
    flags.DEFINE_enum("backbone", None, ["mobilenet_v2", "inception_v3"], "Style predictor "
                      "backbone (default: that of --init_weights, else inception_v3).")
    flags.DEFINE_float("alpha", None, "Transformer width multiplier (default: that of "
                       "--init_weights, else 1.0).")
    flags.DEFINE_string("init_weights", None, "Start from these project weights (a cache "
                        "name or a weights directory).")
    flags.DEFINE_string("single_style", None, "Train a single-style network for this image "
                        "instead of the arbitrary-style one (--style is then not used).")


def config_from_flags():
    FLAGS = flags.FLAGS
    common_flags.require("content")
    return TrainConfig(
        data=common_flags.data_config(), optimizer=common_flags.optimizer_config(),
        loss=common_flags.loss_network_config(), backbone=FLAGS.backbone, alpha=FLAGS.alpha,
        init_weights=FLAGS.init_weights, imagenet_backbone=FLAGS.imagenet_backbone,
        single_style=FLAGS.single_style, output=FLAGS.output)


if __name__ == "__main__":
    define_flags()
    cli.run(common_flags.job_main(train, config_from_flags))
