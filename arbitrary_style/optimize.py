"""Optimization-based stylization (Gatys et al. 2015): the quality reference.

  python -m arbitrary_style.optimize --content photo.jpg --styles a.jpg:0.7,b.jpg:0.3 \\
      --output photo_optimized.png [--steps 300] [--optimizer lbfgs|adam] \\
      [--init content|noise|fast] [--snapshot_every 50] [--json]

The output image itself is optimised against the project's one VGG loss
(`losses.StyleLoss`): the content image's features, the weighted blend of the style images'
Gram matrices, and total variation. L-BFGS-B (scipy, pixels bounded to [0, 1]) or Adam
(Keras, pixels clipped to [0, 1] after each update). `--init fast` starts from the
arbitrary-style network's output and refines it. Ctrl-C stops cleanly: the image with the
lowest loss so far is written and the command exits with status 130.

`--output` is the output file (.png, .jpg, .jpeg, .webp) or a directory (default:
CONTENT_optimized.png in the current directory); `--styles` takes style images (tuned
`@NAME` styles have no image to optimise against).

Step k is the image after k optimizer steps (L-BFGS iterations or Adam updates); step 0 is
the initial image. The library API is `optimize_image` (arrays in, best image and loss
history out) and `optimize(OptimizeConfig(...))` (what the command runs).
"""

import dataclasses
import json
import pathlib
import sys
import time

import keras
import numpy as np
import tensorflow as tf
from absl import flags
from scipy import optimize as scipy_optimize

from arbitrary_style import (
    backends, cli, common_flags, image_io, loss_flags, pipeline, progress_bar, specs)
from arbitrary_style.errors import UserError
from arbitrary_style.image_io import limit_long_side, transfer_luminance
from arbitrary_style.losses import LossConfig, StyleLoss
from arbitrary_style.model_config import MIN_CONTENT_SIDE
from arbitrary_style.specs import parse_styles, plan_outputs
from arbitrary_style.style_vectors import blend_style_vectors
from arbitrary_style.weights import store

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise", "fast")
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C.


class Interrupted(KeyboardInterrupt):
    """A KeyboardInterrupt during `optimize_image`, carrying the best image and the history."""

    def __init__(self, best_image, history):
        super().__init__("interrupted")
        self.best_image = best_image
        self.history = history


class _Recorder:
    """Records each step's loss, keeps the lowest-loss image, calls the user's callback."""

    def __init__(self, shape, callback):
        self.shape, self.callback = shape, callback
        self.history, self.best_image, self.best_loss = [], None, None

    def __call__(self, image, value):
        step, value = len(self.history), float(value)
        image = np.asarray(image, np.float32).reshape(self.shape)
        self.history.append(value)
        if self.best_image is None or value < self.best_loss:
            self.best_image, self.best_loss = image, value
        if self.callback is not None:
            self.callback(step, image, value)


def optimize_image(content, styles, style_blend=None, *, loss, steps, optimizer="lbfgs",
                   learning_rate=0.02, init_image=None, callback=None):
    """Optimises an image against `loss` (a `StyleLoss`): Gatys et al.'s stylization.

    Args:
      content: the content image [H, W, 3] in [0, 1]; the result has its size.
      styles: style images [h, w, 3] in [0, 1], of any sizes.
      style_blend: one weight > 0 per style (default: equal); the style target is the
        weighted mean of their Gram matrices.
      loss: the `StyleLoss` to minimise.
      steps: optimizer steps: L-BFGS iterations or Adam updates.
      optimizer: "lbfgs" (scipy's L-BFGS-B, bounds [0, 1]) or "adam" (Keras; the image is
        clipped to [0, 1] after each update).
      learning_rate: Adam's learning rate (pixel values are in [0, 1]).
      init_image: the start [H, W, 3] (default: the content), clipped to [0, 1].
      callback: `callback(step, image, loss)` for step 0 (the start) and after each step;
        it may raise KeyboardInterrupt to stop.

    Returns:
      (best_image, history): the image [H, W, 3] of the lowest loss among the steps, and
      the loss at each step (history[0]: the start's). L-BFGS stops early if it converges.

    Raises:
      Interrupted: a KeyboardInterrupt after step 0, with the best image so far.
    """

    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {OPTIMIZERS}")
    content = np.asarray(content, np.float32)
    start = np.clip(content if init_image is None else init_image, 0.0, 1.0)
    start = start.astype(np.float32)[np.newaxis]
    if start.shape[1:] != content.shape:
        raise ValueError(f"init_image is {start.shape[1:]}, the content {content.shape}")
    blend = [1.0] * len(styles) if style_blend is None else style_blend
    targets = loss.targets(content[np.newaxis], list(styles), style_blend=blend)

    @tf.function(input_signature=[tf.TensorSpec(start.shape, tf.float32)])
    def value_and_gradient(image):
        with tf.GradientTape() as tape:
            tape.watch(image)
            total, _ = loss.loss(image, targets)
        return total, tape.gradient(total, image)

    record = _Recorder(content.shape, callback)
    try:
        if optimizer == "lbfgs":
            _lbfgs(value_and_gradient, start, steps, record)
        else:
            _adam(value_and_gradient, start, steps, learning_rate, record)
    except KeyboardInterrupt:
        if record.best_image is None:
            raise
        raise Interrupted(record.best_image, record.history) from None
    return record.best_image, record.history


def _lbfgs(value_and_gradient, start, steps, record):
    """scipy's L-BFGS-B with the image as the (float64, flattened) variable."""

    def value_and_gradient_64(x):
        value, gradient = value_and_gradient(tf.constant(x.reshape(start.shape), tf.float32))
        return float(value), gradient.numpy().ravel().astype(np.float64)

    def on_iteration(intermediate_result):  # scipy passes the iterate by this name
        record(intermediate_result.x, intermediate_result.fun)

    x0 = start.ravel().astype(np.float64)
    record(start, value_and_gradient_64(x0)[0])
    if steps:
        scipy_optimize.minimize(value_and_gradient_64, x0, jac=True, method="L-BFGS-B",
                                bounds=scipy_optimize.Bounds(0.0, 1.0), callback=on_iteration,
                                options={"maxiter": steps})


def _adam(value_and_gradient, start, steps, learning_rate, record):
    """Keras Adam on the image, projected back to [0, 1] after each update."""
    image = tf.Variable(start)
    adam = keras.optimizers.Adam(learning_rate)
    for step in range(steps + 1):
        value, gradient = value_and_gradient(tf.convert_to_tensor(image))
        record(image.numpy(), value)
        if step < steps:
            adam.apply_gradients([(gradient, image)])
            image.assign(tf.clip_by_value(image, 0.0, 1.0))


def fast_stylization(content, style_images, style_blend=None, weights=None):
    """The arbitrary-style network's stylization of `content` with blended style vectors.

    `weights` is a cache name or weights directory (None: the default weights), run on
    the `auto` backend.
    """
    model = backends.load(store.resolve_weights(weights))
    vector = blend_style_vectors([model.predict_style(image) for image in style_images],
                                 style_blend)
    return pipeline.Stylizer(model, vector).array(np.asarray(content, np.float32))


def initial_image(init, content, style_images, style_blend=None, *, seed=0, weights=None):
    """The start of the optimization: "content", "noise" (uniform, seeded) or "fast"."""
    if init == "content":
        return np.asarray(content, np.float32)
    if init == "noise":
        return np.random.default_rng(seed).random(np.shape(content), np.float32)
    if init == "fast":
        return fast_stylization(content, style_images, style_blend, weights)
    raise ValueError(f"unknown init {init!r}; choose one of {INITS}")


@dataclasses.dataclass(frozen=True)
class OptimizeConfig:
    """One optimization-based stylization; the fields are the command's flags."""

    content: str
    styles: str  # PATH[:WEIGHT],... as for `stylize`
    output: str | None = None  # None: CONTENT_optimized.png in the current directory.
    steps: int = 300
    size: int = 512
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    vgg_weights: str | None = "imagenet"  # "imagenet", None (random) or a weights file.
    optimizer: str = "lbfgs"
    learning_rate: float = 0.02
    init: str = "content"
    weights: str | None = None  # The arbitrary-style weights for init "fast".
    preserve_colors: bool = False
    snapshot_every: int = 0
    seed: int = 0
    max_pixels: int = image_io.DEFAULT_MAX_PIXELS


def snapshot_path(output, step):
    """`<output stem>_step<step><ext>` next to the output."""
    return output.with_name(f"{output.stem}_step{step}{output.suffix}")


def _working_image(path, config, what, image=None):
    """The image at `path` (or already loaded) shrunk to a longer side <= `config.size`."""
    if image is None:
        image = image_io.load_image(path, max_pixels=config.max_pixels)
    image = limit_long_side(image, config.size)
    if min(image.shape[:2]) < MIN_CONTENT_SIDE:
        raise UserError(f"{path}: the {what} image is {image.shape[1]}x{image.shape[0]} pixels "
                        f"at --size {config.size}; each side must be at least "
                        f"{MIN_CONTENT_SIDE}")
    return image


def optimize(config, callback=None):
    """Runs one optimization and writes its image; returns the summary (a JSON-able dict).

    `callback(step, image, loss)` is called at each step (see `optimize_image`). On a
    KeyboardInterrupt after step 0 the best image so far is written and the summary says
    "interrupted": true; before step 0 the KeyboardInterrupt propagates and the output is
    not written.
    """
    started = time.perf_counter()
    for name, value, choices in (("optimizer", config.optimizer, OPTIMIZERS),
                                 ("init", config.init, INITS)):
        if value not in choices:
            raise UserError(f"unknown --{name} {value!r}; choose one of {', '.join(choices)}")
    styles = parse_styles(config.styles)
    content_path = pathlib.Path(config.content)
    inputs = [content_path, *(path for path, _ in styles)]
    [output] = plan_outputs([content_path], inputs, config.output, suffix="_optimized")
    snapshot_steps = range(config.snapshot_every, config.steps + 1, config.snapshot_every) \
        if config.snapshot_every else ()
    resolved_inputs = {path.resolve() for path in inputs}
    for step in snapshot_steps:
        if snapshot_path(output, step).resolve() in resolved_inputs:
            raise UserError(f"the snapshot {snapshot_path(output, step)} would overwrite an "
                            "input; choose another --output")

    content = _working_image(content_path, config, "content")
    originals = [image_io.load_image(path, max_pixels=config.max_pixels) for path, _ in styles]
    style_images = [_working_image(path, config, "style", image)
                    for (path, _), image in zip(styles, originals, strict=True)]
    blend = [weight for _, weight in styles]
    # The fast network sees the styles at full size, as in `stylize`.
    init = initial_image(config.init, content, originals, blend, seed=config.seed,
                         weights=config.weights)
    keras.utils.set_random_seed(config.seed)  # Reproducible random VGG weights.
    loss = StyleLoss(config.loss, weights=config.vgg_weights)

    def finish(image):
        return transfer_luminance(content, image) if config.preserve_colors else image

    snapshots = []

    def on_step(step, image, value):
        progress.update(step - progress.n)
        progress.set_postfix(loss=f"{value:.5g}")
        if step in snapshot_steps:
            image_io.save_image(finish(image), snapshot_path(output, step))
            snapshots.append(str(snapshot_path(output, step)))
        if callback is not None:
            callback(step, image, value)

    with progress_bar.bar(total=config.steps, unit="step", dynamic_ncols=True) as progress:
        try:
            best, history = optimize_image(
                content, style_images, blend, loss=loss, steps=config.steps,
                optimizer=config.optimizer, learning_rate=config.learning_rate,
                init_image=init, callback=on_step)
            interrupted = False
        except Interrupted as stop:
            best, history, interrupted = stop.best_image, stop.history, True
    image_io.save_image(finish(best), output)
    best_step = int(np.argmin(history))
    return {
        "content": str(content_path), "output": str(output),
        "styles": [{"path": str(p), "weight": w, "share": w / sum(blend)} for p, w in styles],
        "size": list(content.shape[1::-1]), "optimizer": config.optimizer,
        "init": config.init, "network": config.loss.network,
        "vgg_weights": config.vgg_weights, "preserve_colors": config.preserve_colors,
        "steps": config.steps, "steps_done": len(history) - 1, "interrupted": interrupted,
        "initial_loss": history[0], "final_loss": history[-1],
        "best_loss": history[best_step], "best_step": best_step, "snapshots": snapshots,
        "seconds": round(time.perf_counter() - started, 3),
    }


def define_flags():
    """Defines the command's flags (only when run as `__main__`: flags are process-global)."""
    common_flags.define("content", "styles", "output", "weights", "preserve_colors",
                        "max_pixels", "json")
    flags.DEFINE_integer("steps", OptimizeConfig.steps, "Optimizer steps (L-BFGS iterations "
                         "or Adam updates).", lower_bound=0)
    flags.DEFINE_integer("size", OptimizeConfig.size, "Shrink the content and style images "
                         "so their longer side is at most this many pixels.",
                         lower_bound=MIN_CONTENT_SIDE)
    loss_flags.define_loss_flags()
    flags.DEFINE_enum("optimizer", OptimizeConfig.optimizer, OPTIMIZERS,
                      "lbfgs: scipy's L-BFGS-B with bounds [0, 1]; adam: Keras Adam.")
    flags.DEFINE_float("learning_rate", OptimizeConfig.learning_rate, "Adam's learning rate "
                       "(pixel values are in [0, 1]).", lower_bound=0)
    flags.DEFINE_enum("init", OptimizeConfig.init, INITS, "Start from the content, from "
                      "uniform noise, or from the arbitrary-style network's output (fast).")
    flags.DEFINE_integer("snapshot_every", 0, "Also write the image every N steps, as "
                         "<output stem>_step<k><ext> next to the output (0: never).",
                         lower_bound=0)
    flags.DEFINE_integer("seed", 0, "Seed of the noise start and of random VGG weights.")


def config_from_flags():
    """The `OptimizeConfig` of the parsed flags; a bad flag value is a UserError."""
    FLAGS = flags.FLAGS
    for name in ("content", "styles"):
        if not FLAGS[name].value:
            raise UserError(f"--{name} is required (see --help)")
    if len(FLAGS.content) != 1:
        raise UserError(f"--content: give one content image, not {len(FLAGS.content)}")
    losses, vgg_weights = loss_flags.loss_from_flags()
    return OptimizeConfig(
        content=FLAGS.content[0], styles=FLAGS.styles, output=FLAGS.output, steps=FLAGS.steps,
        size=FLAGS.size, loss=losses, vgg_weights=vgg_weights, optimizer=FLAGS.optimizer,
        learning_rate=FLAGS.learning_rate, init=FLAGS.init, weights=FLAGS.weights,
        preserve_colors=FLAGS.preserve_colors, snapshot_every=FLAGS.snapshot_every,
        seed=FLAGS.seed, max_pixels=FLAGS.max_pixels)


def main(argv):
    """The command; returns the exit code (130 after Ctrl-C)."""
    try:
        summary = optimize(config_from_flags())
    except KeyboardInterrupt:
        print("interrupted before the output was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    if flags.FLAGS.json:
        print(json.dumps(summary, indent=2))
    if summary["interrupted"]:
        print(f"interrupted after {summary['steps_done']} steps: wrote the best image so far "
              f"(step {summary['best_step']}, loss {summary['best_loss']:.5g}) to "
              f"{summary['output']}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not flags.FLAGS.json:
        print(f"wrote {summary['output']}")
    return 0


if __name__ == "__main__":
    define_flags()
    cli.run(main)
