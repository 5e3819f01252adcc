"""Evaluate weights or a training checkpoint on held-out images.

  python -m training.evaluate --weights runs/mine/weights --content val_photos/ \\
      --style held_out_styles/ --output_dir eval/
  python -m training.evaluate --model_dir runs/mine --content coco/2017:validation --style dtd:test

Stylizes every content image with every style image (up to --num_content x --num_styles),
and writes `report.json` (mean content/style/total-variation losses, style-vector
statistics) and `contact_sheet.png` (styles across the top, contents down the side) to
--output_dir.
"""

import dataclasses
import json
import pathlib

import keras
import numpy as np
import tensorflow as tf
from absl import flags

from arbitrary_style import cli, common_flags as arbitrary_style_flags, loss_flags
from arbitrary_style.atomic import atomic_file
from arbitrary_style.errors import UserError
from arbitrary_style.image_io import save_image
from arbitrary_style.losses import StyleLoss
from arbitrary_style.model import StyleModel
from arbitrary_style.model_config import STYLE_VECTOR_SIZE
from arbitrary_style.weights import store
from training import common_flags, data, run_dir
from training.config import DataConfig, LossNetworkConfig
from training.train import set_single_style


# `--vgg_weights none` (smoke tests): the random VGG is seeded, so runs give the same losses.
RANDOM_VGG_SEED = 0


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    data: DataConfig
    loss: LossNetworkConfig = LossNetworkConfig()
    weights: str | None = None  # Project weights, or:
    model_dir: str | None = None  # a training run's latest checkpoint.
    num_content: int = 4
    num_styles: int = 8
    output_dir: str | None = None  # None: MODEL_DIR/eval, or ./eval.


def load_evaluated_model(config):
    """From the project weights, or from the latest checkpoint of a training run."""
    if config.weights and config.model_dir:
        raise UserError("give --weights or --model_dir, not both")
    if not config.model_dir:
        directory = store.resolve_weights(config.weights)
        return store.load_model(directory), str(directory)
    model_dir = pathlib.Path(config.model_dir)
    run = run_dir.read_run_config(model_dir)
    if run is None:
        raise UserError(f"{model_dir} is not a training run directory (no "
                        f"{run_dir.RUN_CONFIG_FILE})")
    model = StyleModel(run.model_config)
    extra = {}
    if run.single_style:
        extra["style_vector"] = tf.Variable(tf.zeros([1, STYLE_VECTOR_SIZE]))
    latest = run_dir.restore_latest(tf.train.Checkpoint(**run_dir.checkpointed(model, **extra)),
                                    model_dir / "checkpoints")
    if not latest:
        raise UserError(f"no checkpoint in {model_dir / 'checkpoints'}")
    if run.single_style:
        set_single_style(model, extra["style_vector"])
    return model, latest


def first_images(source, count, image_size, data_dir, dataset_fn, **kwargs):
    """The first `count` images of a source, in its stored order, centre-cropped."""
    dataset, skipped = dataset_fn(source, image_size=image_size, batch_size=1, shuffle_buffer=0,
                                  repeat=False, data_dir=data_dir, **kwargs)
    images = np.concatenate([batch.numpy() for batch in dataset.take(count)])
    return images, skipped.count


def style_vector_statistics(vectors):
    norms = np.linalg.norm(vectors, axis=1)
    unit = vectors / np.maximum(norms[:, None], 1e-12)
    cosine = unit @ unit.T
    pairs = cosine[np.triu_indices(len(vectors), k=1)]
    return {"count": len(vectors), "norm_mean": float(norms.mean()),
            "norm_std": float(norms.std()),
            "per_dimension_std_mean": float(vectors.std(axis=0).mean()),
            "pairwise_cosine_mean": float(pairs.mean()) if len(pairs) else None}


def contact_sheet(contents, styles, stylized):
    """A grid image: a blank corner, styles along the top row, contents down the left."""
    size = contents.shape[1]
    styles = tf.image.resize(styles, (size, size), antialias=True).numpy()
    rows, cols = len(contents) + 1, len(styles) + 1
    sheet = np.ones((rows * size, cols * size, 3), np.float32)
    for j, style in enumerate(styles, 1):
        sheet[:size, j * size:(j + 1) * size] = style
    for i, content in enumerate(contents, 1):
        sheet[i * size:(i + 1) * size, :size] = content
        for j in range(1, cols):
            sheet[i * size:(i + 1) * size, j * size:(j + 1) * size] = stylized[i - 1][j - 1]
    return sheet


def evaluate(config):
    """Runs an evaluation; writes and returns the report."""
    source = config.data
    if not source.content or not source.style:
        raise UserError("evaluation needs content images (--content) and style images (--style)")
    model, evaluated = load_evaluated_model(config)
    output_dir = pathlib.Path(config.output_dir or (
        pathlib.Path(config.model_dir) / "eval" if config.model_dir else "eval"))
    contents, content_skipped = first_images(source.content, config.num_content,
                                             source.image_size, source.data_dir,
                                             data.content_dataset, random_crop=False)
    styles, style_skipped = first_images(source.style, config.num_styles,
                                         source.style_image_size, source.data_dir,
                                         data.style_dataset, augment=None)
    if config.loss.vgg_weights is None:
        keras.utils.set_random_seed(RANDOM_VGG_SEED)
    loss_net = StyleLoss(config.loss.losses, weights=config.loss.vgg_weights)
    vectors = model.predict_style(styles, size=None)
    stylized, parts = [], []
    for content in contents:
        repeated = np.repeat(content[None], len(styles), axis=0)
        row = model.stylize(repeated, vectors)
        stylized.append(row)
        _, losses = loss_net(tf.constant(row), tf.constant(repeated), tf.constant(styles))
        parts.append({name: float(value) for name, value in losses.items()})
    report = {
        "evaluated": evaluated, "backbone": model.config.backbone, "alpha": model.config.alpha,
        "content": source.content, "style": source.style,
        "vgg_weights": config.loss.vgg_weights or f"random (seed {RANDOM_VGG_SEED})",
        "num_content": len(contents), "num_styles": len(styles),
        "skipped_unreadable": content_skipped + style_skipped,
        "losses": {name: float(np.mean([p[name] for p in parts])) for name in parts[0]},
        "style_vectors": style_vector_statistics(vectors),
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    save_image(contact_sheet(contents, styles, stylized), output_dir / "contact_sheet.png")
    report_path = output_dir / "report.json"
    with atomic_file(report_path) as temporary:
        temporary.write_text(json.dumps(report, indent=2) + "\n")
    return {**report, "files": [str(report_path), str(output_dir / "contact_sheet.png")]}


def define_flags():
    common_flags.define_data_flags()
    loss_flags.define_loss_flags()
    arbitrary_style_flags.define("weights")
    flags.DEFINE_string("model_dir", None, "Instead of --weights: a training run whose latest "
                        "checkpoint to evaluate.")
    flags.DEFINE_integer("num_content", 4, "Content images to use (the first ones).",
                         lower_bound=1)
    flags.DEFINE_integer("num_styles", 8, "Style images to use (the first ones).",
                         lower_bound=1)
    flags.DEFINE_string("output_dir", None, "Where report.json and contact_sheet.png go "
                        "(default MODEL_DIR/eval or ./eval).")


def config_from_flags():
    FLAGS = flags.FLAGS
    return EvaluateConfig(
        data=common_flags.data_config(), loss=common_flags.loss_network_config(),
        weights=FLAGS.weights, model_dir=FLAGS.model_dir, num_content=FLAGS.num_content,
        num_styles=FLAGS.num_styles, output_dir=FLAGS.output_dir)


if __name__ == "__main__":
    define_flags()
    cli.run(common_flags.job_main(evaluate, config_from_flags))
