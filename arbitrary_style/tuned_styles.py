"""Tuned styles: a style vector optimised against the VGG-19 loss, kept in the cache by name.

The fast network predicts a style's 100-d vector from one look at the style image. Tuning
starts from that vector and lowers the Gatys loss (`losses.StyleLoss`, VGG-19) of the
transformer's output over a set of content photos, by Adam on the vector alone:

    vector, history = tune_vector(model, style_image, contents, loss=StyleLoss(...), steps=50)

A tuned style is stored as `$ARBITRARY_STYLE_HOME/styles/<name>.json` (format version,
the 100 numbers, the weights they belong to, how they were made); it is only valid for
the transformer of those weights.
"""

import json
import math

import numpy as np

from arbitrary_style import atomic
from arbitrary_style.errors import UserError
from arbitrary_style.model_config import STYLE_VECTOR_SIZE
from arbitrary_style.weights import registry, store

FORMAT_VERSION = 1


class Interrupted(KeyboardInterrupt):
    """A KeyboardInterrupt during `tune_vector`, carrying the best vector and the history."""

    def __init__(self, best_vector, history):
        super().__init__("interrupted")
        self.best_vector, self.history = best_vector, history


def tune_vector(model, style_image, contents, *, loss, steps, learning_rate=0.05,
                callback=None):
    """Optimises the style vector of `style_image` for `model`'s transformer.

    Args:
      model: a `StyleModel` (Keras; gradients flow through its transformer).
      style_image: the style [H, W, 3] in [0, 1], at the size its Gram target should have.
      contents: content photos [N, H, W, 3] in [0, 1] (one batch, one size).
      loss: the `StyleLoss` to lower (mean over the contents).
      steps: Adam updates of the vector.
      learning_rate: Adam's learning rate.
      callback: `callback(step, loss)` for step 0 (the predicted vector) and after each
        update; it may raise KeyboardInterrupt to stop.

    Returns:
      (best_vector [100], history): the vector of the lowest loss seen and the loss at
      each step (history[0]: the predicted vector's).

    Raises:
      Interrupted: a KeyboardInterrupt after step 0, with the best vector so far.
    """
    import keras
    import tensorflow as tf

    contents = tf.constant(np.asarray(contents, np.float32))
    targets = loss.targets(contents, [style_image], style_blend=[1.0])
    batch = int(contents.shape[0])
    vector = tf.Variable(model.predict_style(style_image)[np.newaxis])
    optimizer = keras.optimizers.Adam(learning_rate)

    @tf.function
    def value_and_gradient():
        with tf.GradientTape() as tape:
            stylized = model.transformer(contents, tf.repeat(vector, batch, axis=0),
                                         training=False)
            total, _ = loss.loss(stylized, targets)
        return total, tape.gradient(total, vector)

    history, best = [], None
    try:
        for step in range(steps + 1):
            value, gradient = value_and_gradient()
            value = float(value)
            history.append(value)
            if best is None or value < min(history[:-1]):
                best = vector.numpy()[0].copy()
            if callback is not None:
                callback(step, value)
            if step < steps:
                optimizer.apply_gradients([(gradient, vector)])
    except KeyboardInterrupt:
        if best is None:
            raise
        raise Interrupted(best, history) from None
    return best, history


def styles_dir():
    """Where tuned styles live: `$ARBITRARY_STYLE_HOME/styles`."""
    return store.home() / "styles"


def style_path(name):
    """The file of the tuned style `name` (whether or not it exists)."""
    try:
        return styles_dir() / f"{registry.check_name(name)}.json"
    except ValueError as error:
        raise UserError(str(error).replace("weights name", "style name")) from None


def save(name, vector, *, weights, details):
    """Writes the tuned style `name` atomically; `weights` names the weights it is for."""
    vector = np.asarray(vector, np.float64)
    record = {"format_version": FORMAT_VERSION, "name": name, "weights": weights,
              "vector": [float(x) for x in vector], **details}
    path = style_path(name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic.atomic_file(path) as temporary:
            temporary.write_text(json.dumps(record, indent=1) + "\n")
    except OSError as error:
        raise UserError(f"cannot write the style to {path}: {error.strerror or error}") from None
    return path


def load(name):
    """The record of the tuned style `name`, validated; UserError names what is wrong."""
    path = style_path(name)
    if not path.is_file():
        raise UserError(f"no tuned style {name!r} (in {styles_dir()}); make one with: "
                        f"python -m arbitrary_style.styles tune STYLE_IMAGE --name {name}")
    try:
        record = json.loads(path.read_text())
        version, vector = record["format_version"], record["vector"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(f"{path} is not a tuned style: {error}") from None
    if version != FORMAT_VERSION:
        raise UserError(f"{path} has tuned-style format version {version}; this version of "
                        f"arbitrary_style reads version {FORMAT_VERSION}")
    if not (isinstance(vector, list) and len(vector) == STYLE_VECTOR_SIZE
            and all(isinstance(x, (int, float)) and math.isfinite(x) for x in vector)):
        raise UserError(f"{path}: the vector is not {STYLE_VECTOR_SIZE} finite numbers")
    return record


def vector_for(name, weights):
    """The tuned vector [100] of `name`, refused unless it was tuned for `weights`."""
    record = load(name)
    if record.get("weights") != weights:
        raise UserError(f"tuned style {name!r} was made for the weights "
                        f"{record.get('weights')!r}, not {weights!r}; tune it again with "
                        f"--weights {weights}")
    return np.asarray(record["vector"], np.float32)


def names():
    """Names of the tuned styles in the cache, sorted."""
    directory = styles_dir()
    try:
        return sorted(p.stem for p in directory.glob("*.json")) if directory.is_dir() else []
    except OSError as error:
        raise UserError(f"cannot list {directory}: {error.strerror}") from None


def remove(name):
    """Deletes the tuned style `name`; UserError if there is none."""
    path = style_path(name)
    try:
        path.unlink()
    except FileNotFoundError:
        raise UserError(f"no tuned style {name!r} (in {styles_dir()})") from None
    except OSError as error:
        raise UserError(f"cannot remove {path}: {error.strerror}") from None
