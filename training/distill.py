"""Distill a MobileNet-v2 style predictor from a teacher predictor.

  python -m training.distill --teacher_weights magenta --style dtd --content coco/2017 \\
      --model_dir runs/distill --imagenet_backbone --stylization_loss_weight 1e-2

The student learns the teacher's 100-d style vectors (mean squared error), optionally plus
the stylization loss of the teacher's (frozen) transformer driven by the student's vectors
("true loss", at a small weight; needs --content). The result — the student predictor with
the teacher's transformer — is saved in the project's weights format, in --output (default
MODEL_DIR/weights).
"""

import dataclasses
import pathlib

import keras
import tensorflow as tf
from absl import flags

from arbitrary_style import cli, loss_flags
from arbitrary_style.errors import UserError
from arbitrary_style.losses import StyleLoss
from arbitrary_style.model import ModelConfig, StyleModel
from arbitrary_style.weights import store
from training import common_flags, data, run_dir
from training.config import DataConfig, LossNetworkConfig, OptimizerConfig
from training.loop import TrainingLoop, apply_gradients, is_chief, make_strategy
from training.run_dir import RunConfig


@dataclasses.dataclass(frozen=True)
class DistillConfig:
    teacher_weights: str
    data: DataConfig
    optimizer: OptimizerConfig
    loss: LossNetworkConfig = LossNetworkConfig()
    stylization_loss_weight: float = 0.0  # 0: style-vector MSE only.
    imagenet_backbone: bool = False
    output: str | None = None  # None: MODEL_DIR/weights.


def distill(config):
    """Runs a distillation job; returns weights dir, step, last losses and {step: losses}."""
    true_loss = config.stylization_loss_weight > 0
    if not config.data.style or (true_loss and not config.data.content):
        raise UserError("distillation needs style images (--style), and content images "
                        "(--content) when --stylization_loss_weight > 0")
    model_dir = pathlib.Path(config.optimizer.loop.model_dir)
    teacher_dir = store.resolve_weights(config.teacher_weights)
    run_dir.claim_run(model_dir, RunConfig("distill", "mobilenet_v2",
                                           store.read_config(teacher_dir)[0].alpha,
                                           teacher=config.teacher_weights))

    # The strategy first: MultiWorkerMirroredStrategy configures collective ops before
    # TensorFlow's context starts, which seeding would start.
    strategy = make_strategy(config.optimizer.strategy)
    keras.utils.set_random_seed(config.data.seed)  # Reproducible initial weights.
    with strategy.scope():
        teacher = store.load_model(teacher_dir)
        student = StyleModel(ModelConfig("mobilenet_v2", teacher.config.alpha))
        student.transformer.set_weights(teacher.transformer.get_weights())
        if config.imagenet_backbone:
            from arbitrary_style.weights.imagenet import load_imagenet_backbone

            load_imagenet_backbone(student, "mobilenet_v2")
        loss_net = StyleLoss(config.loss.losses, weights=config.loss.vgg_weights) \
            if true_loss else None
        optimizer = keras.optimizers.Adam(config.optimizer.learning_rate)
        variables = student.predictor.trainable_variables
        optimizer.build(variables)

    def step_fn(batch):
        style, content = batch if true_loss else (batch, None)
        teacher_vectors = teacher.predictor(style, training=False)
        with tf.GradientTape() as tape:
            vectors = student.predictor(style, training=True)
            parts = {"vector_mse": tf.reduce_mean(tf.square(vectors - teacher_vectors))}
            total = parts["vector_mse"]
            if true_loss:
                stylized = student.transformer(content, vectors, training=False)
                parts["stylization"], _ = loss_net(stylized, content, style)
                total += config.stylization_loss_weight * parts["stylization"]
            parts["total"] = total
            scaled = total / strategy.num_replicas_in_sync
        apply_gradients(optimizer, tape.gradient(scaled, variables), variables,
                        config.optimizer.clip_gradient_norm)
        return parts

    def make_dataset(start_step):  # Seeded by the start step: resumed runs are reproducible.
        seed, source = config.data.seed + start_step, config.data
        style, _ = data.style_dataset(
            source.style, image_size=source.style_image_size, batch_size=source.batch_size,
            augment=source.augmentation, seed=seed, data_dir=source.data_dir)
        if not true_loss:
            return style
        content, _ = data.content_dataset(
            source.content, image_size=source.image_size, batch_size=source.batch_size,
            seed=seed + 1, data_dir=source.data_dir)
        return tf.data.Dataset.zip((style, content))

    loop = TrainingLoop(config.optimizer.loop, strategy, optimizer,
                        run_dir.checkpointed(student))
    history = loop.run(step_fn, make_dataset)
    output = pathlib.Path(config.output or model_dir / "weights")
    if is_chief(strategy):
        store.save_model(student, output,
                         source=f"training.distill from {config.teacher_weights}")
    last = history[max(history)] if history else {}
    return {"weights": str(output), "step": loop.step, "losses": last, "history": history}


def define_flags():
    common_flags.define_data_flags()
    loss_flags.define_loss_flags()
    common_flags.define_optimizer_flags()
    flags.DEFINE_string("teacher_weights", None, "The teacher: project weights (a cache name "
                        "or a weights directory) of any backbone.")
    flags.DEFINE_float("stylization_loss_weight", 0.0, "Weight of the stylization loss added "
                       "to the style-vector MSE (0 = vector MSE only).", lower_bound=0)


def config_from_flags():
    FLAGS = flags.FLAGS
    common_flags.require("teacher_weights", "style")
    return DistillConfig(
        teacher_weights=FLAGS.teacher_weights, data=common_flags.data_config(),
        optimizer=common_flags.optimizer_config(), loss=common_flags.loss_network_config(),
        stylization_loss_weight=FLAGS.stylization_loss_weight,
        imagenet_backbone=FLAGS.imagenet_backbone, output=FLAGS.output)


if __name__ == "__main__":
    define_flags()
    cli.run(common_flags.job_main(distill, config_from_flags))
