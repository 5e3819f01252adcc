"""Tuned styles: a style's conditioning optimised against the VGG-19 loss, kept by name.

The fast network predicts a style's 100-d vector from one look at the style image. Tuning
starts from that vector and lowers the Gatys loss (`losses.StyleLoss`, VGG-19) of the
transformer's output over a set of content photos: first by Adam on the vector, then
(unless norm_steps is 0) on the per-layer normalization parameters (every conditional
instance norm's beta and gamma, as offsets from what the vector gives: `norm_params`), as
Dumoulin et al. 2017 learn new styles. The content loss is held within
`max_content_ratio` of the predicted vector's by sliding along that bound
(`slide_along_bound`), and the step of the lowest loss among those within it whose style
loss is lower is kept:

    result = tune(model, style_image, contents, loss=StyleLoss(...), steps=15, norm_steps=60)
    result.vector, result.norm_offsets, result.history

A tuned style is stored as `$ARBITRARY_STYLE_HOME/styles/<name>.json` (format version 2:
the vector, optional per-layer offsets as base64 float16, the weights they belong to, how
they were made; version 1 files, vector only, are still read). Built-in styles ship in
`arbitrary_style/library/styles/`; a cached style of the same name overrides a built-in.
A style is only valid for the transformer of the weights it was tuned for.

No TensorFlow at import time (the core install has none): `tune` imports it when called.
"""

import argparse
import base64
import json
import math
import pathlib
import typing

import numpy as np

from arbitrary_style import atomic, specs
from arbitrary_style.errors import UserError
from arbitrary_style.model_config import STYLE_VECTOR_SIZE
from arbitrary_style.weights import registry, store

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
OFFSETS_DTYPE = "float16"  # How per-layer offsets are stored (base64, little-endian).

LIBRARY_DIR = pathlib.Path(__file__).parent / "library"
BUILTIN_STYLES_DIR = LIBRARY_DIR / "styles"
BUILTIN_CONTENTS_DIR = LIBRARY_DIR / "contents"  # The default content photos of `tune`.

DEFAULT_LEARNING_RATE = 0.05  # Adam's, for the vector.
# For the normalization parameters, and how many steps: along the content bound the style
# loss still fell by ~1% a step after 45 steps at 0.1 (red_texture); 60 at 0.2 reached the
# held-out style loss of 120 at 0.1 (0.62x) in half the time, at 1.18x content against 1.13x
# (BUILD_NOTES, issue 23, 2026-12-05 late).
DEFAULT_NORM_LEARNING_RATE = 0.2
DEFAULT_NORM_STEPS = 60
DEFAULT_MAX_CONTENT_RATIO = 1.15
DEFAULT_CONTENT_WEIGHT = 0.0
# Two half-size corner crops beside each tuning photo: held-out style loss 0.56x instead of
# 0.645x on the black zigzag (same steps), at three times the batch.
DEFAULT_ZOOMED_CROPS = 2
# The walk aims at this share of the allowed content growth, so that the error of the
# linear step (`slide_along_bound`) seldom carries a step past the bound itself.
BOUND_AIM = 0.95


class Option(typing.NamedTuple):
    """A tuning setting as commands take it (`styles tune`'s absl flags, the scripts' argparse)."""
    type: type
    default: float
    lower_bound: float
    help: str
    upper_bound: float = math.inf


OPTIONS = {
    "steps": Option(int, 15, 0, "Adam updates of the style vector."),
    "norm_steps": Option(int, DEFAULT_NORM_STEPS, 0, "then Adam updates of the per-layer "
                         "normalization parameters (0: the vector only)."),
    "size": Option(int, 256, 16, "side of the content squares and longer side of the style "
                   "image, in pixels."),
    "zoomed_crops": Option(int, DEFAULT_ZOOMED_CROPS, 0, "each content photo also as this many "
                           "of its square's half-size corner crops (top left, bottom right, top "
                           "right, bottom left), enlarged to --size: strokes against objects "
                           "twice as large, which carries over to other photos (0: the photos "
                           "alone; each crop adds a photo's worth of time and memory).",
                           upper_bound=4),
    "learning_rate": Option(float, DEFAULT_LEARNING_RATE, 0,
                            "Adam's learning rate for the vector."),
    "norm_learning_rate": Option(float, DEFAULT_NORM_LEARNING_RATE, 0,
                                 "Adam's learning rate for the normalization parameters."),
    "content_weight": Option(float, DEFAULT_CONTENT_WEIGHT, 0,
                             "weight of the penalty on content-loss growth, max(0, content / "
                             "predicted content - 1)^2, against the relative style loss."),
    "max_content_ratio": Option(float, DEFAULT_MAX_CONTENT_RATIO, 1,
                                "keep only steps whose content loss on the tuning photos is at "
                                "most this times the predicted vector's."),
}


def add_tuning_arguments(parser, **defaults):
    """Adds `OPTIONS` as arguments to an argparse parser, with the given other `defaults`."""
    unknown = defaults.keys() - OPTIONS.keys()
    if unknown:
        raise TypeError(f"not a tuning option: {', '.join(sorted(unknown))}")
    for name, option in OPTIONS.items():
        parser.add_argument(f"--{name}", type=_within(option.type, option.lower_bound,
                                                      option.upper_bound),
                            default=defaults.get(name, option.default),
                            help=f"{option.help} (default: %(default)s)")


def _within(kind, lower_bound, upper_bound):
    """An argparse type: the text as `kind`, finite and within [lower_bound, upper_bound]
    (as `cli` checks absl's float flags)."""
    def parse(text):
        value = kind(text)
        if not (math.isfinite(value) and lower_bound <= value <= upper_bound):
            limits = (f">= {lower_bound}" if math.isinf(upper_bound)
                      else f"in [{lower_bound}, {upper_bound}]")
            raise argparse.ArgumentTypeError(f"must be a finite number {limits}, not {text}")
        return value
    parse.__name__ = kind.__name__  # argparse's "invalid int value" names it.
    return parse


class TuneResult(typing.NamedTuple):
    vector: np.ndarray  # [100] float32
    norm_offsets: dict | None  # {layer: (beta [C], gamma [C])}, None: the vector alone
    history: list  # one dict per step: stage, step, total, content, style, eligible
    best: int  # index into history of the returned parameters


class Interrupted(KeyboardInterrupt):
    """A KeyboardInterrupt while tuning, carrying the best result so far.

    `best_vector` and `history` are those of `tune_vector`; `result` is a TuneResult.
    """

    def __init__(self, result, history=None):
        super().__init__("interrupted")
        self.result = result
        self.best_vector = result.vector
        self.history = history if history is not None else result.history


def tune(model, style_image, contents, *, loss, steps, norm_steps=DEFAULT_NORM_STEPS,
         learning_rate=DEFAULT_LEARNING_RATE, norm_learning_rate=DEFAULT_NORM_LEARNING_RATE,
         content_weight=DEFAULT_CONTENT_WEIGHT,
         max_content_ratio=DEFAULT_MAX_CONTENT_RATIO, relative=True, callback=None):
    """Tunes the style of `style_image` for `model`'s transformer.

    Args:
      model: a `StyleModel` (Keras; gradients flow through its transformer).
      style_image: the style [H, W, 3] in [0, 1], at the size its Gram target should have.
      contents: content photos [N, H, W, 3] in [0, 1] (one batch, one size).
      loss: the `StyleLoss` whose style and content terms are lowered (mean over contents).
      steps: Adam updates of the 100-d vector (stage 1).
      norm_steps: then Adam updates of the per-layer beta/gamma offsets (stage 2; the vector
        stays at stage 1's best).
      learning_rate, norm_learning_rate: Adam's learning rates of the two stages.
      content_weight: the weight of the content term in the objective (default 0: the
        bound alone holds the content back).
      relative: the objective is (style + total variation) / S0 + content_weight *
        max(0, content / C0 - 1)^2, with S0, C0 the predicted vector's style and content
        losses: it lowers the style loss, and holds the content loss back once it grows
        past the predicted vector's (a plain content term would rather undo the style:
        with content / C0 weighted 1, the black zigzag's tuning lowered the content loss
        to 0.75x and raised the style loss), the same for every style (a hard pattern's
        style loss is 15x its content loss, a soft painting's about 1x). False: style +
        content_weight * content + total variation, `loss`'s own balance.
      max_content_ratio: a step is eligible only if its content loss is at most this times
        the predicted vector's and its style loss lower; the walk slides along the bound
        (`slide_along_bound`, aiming at `BOUND_AIM` of the allowed growth) instead of
        crossing it (so both stages may use the whole bound). inf: every step is
        eligible.
      callback: `callback(step, entry)` after each evaluation (entry: a history dict; step
        counts both stages); it may raise KeyboardInterrupt to stop.

    Returns:
      TuneResult: the eligible step of the lowest objective (step 0, the predicted vector,
      if none). history[i]["total"] is the objective, "content" and "style" `loss`'s terms.

    Raises:
      Interrupted: a KeyboardInterrupt after step 0, with the best result so far.
    """
    import keras
    import tensorflow as tf

    from arbitrary_style import norm_params
    from arbitrary_style.layers import NormInputs

    contents = tf.constant(np.asarray(contents, np.float32))
    targets = loss.targets(contents, [style_image], style_blend=[1.0])
    batch = int(contents.shape[0])
    vector = tf.Variable(model.predict_style(style_image)[np.newaxis])
    # Every CIN's beta and gamma offsets, through the transformer's norm offsets input.
    offsets = tf.Variable(tf.zeros([1, model.moments_size]))

    scales = tf.Variable([1.0, 1.0])  # 1 / S0 (relative) and 1 / C0 once known.

    def objective():
        stylized = model.transformer(contents, tf.repeat(vector, batch, axis=0),
                                     training=False,
                                     norm=NormInputs(offsets=tf.repeat(offsets, batch, axis=0)))
        _, parts = loss.loss(stylized, targets)
        style_term = scales[0] * (parts["style"] + parts["total_variation"])
        if relative:
            growth = tf.nn.relu(scales[1] * parts["content"] - 1.0)
            return style_term + content_weight * growth ** 2, parts["content"], parts["style"]
        return style_term + content_weight * parts["content"], parts["content"], parts["style"]

    bounded = not math.isinf(max_content_ratio)

    def make_step(variables):
        @tf.function
        def value_and_gradient():
            """(objective, content, style), the objective's gradient and, when bounded,
            the gradient of content / C0."""
            with tf.GradientTape(persistent=bounded) as tape:
                values = objective()
                content_ratio = scales[1] * values[1]
            gradients = tape.gradient(values[0], variables)
            return values, gradients, (tape.gradient(content_ratio, variables)
                                       if bounded else None)
        return value_and_gradient

    history, snapshots = [], {}
    best = 0

    def record(stage, values):
        nonlocal best
        total, content, style = (float(v) for v in values)
        first = history[0] if history else None
        eligible = first is None or not bounded or (
            content <= max_content_ratio * first["content"] and style < first["style"])
        entry = {"stage": stage, "step": len(history), "total": total, "content": content,
                 "style": style, "eligible": eligible}
        history.append(entry)
        if len(history) == 1 or (eligible and total < history[best]["total"]):
            best = len(history) - 1
            snapshots["best"] = (vector.numpy()[0].copy(),
                                 offsets.numpy()[0].copy() if stage == "norm" else None)
        if callback is not None:
            callback(len(history) - 1, entry)

    def restore_best():
        best_vector, best_offsets = snapshots["best"]
        vector.assign(best_vector[np.newaxis])
        offsets.assign(np.zeros(offsets.shape, np.float32) if best_offsets is None
                       else best_offsets[np.newaxis])

    def run_stage(stage, value_and_gradient, variables, optimizer, count):
        aim = 1 + BOUND_AIM * (max_content_ratio - 1)
        at_bound = False
        for step in range(count + 1):
            values, gradients, normal = value_and_gradient()
            if stage == "vector" and step == 0 and (relative or bounded):
                _, content, style = (float(v) for v in values)
                scales.assign([1.0 / max(style, 1e-12) if relative else 1.0,
                               1.0 / max(content, 1e-12)])
                values, gradients, normal = value_and_gradient()
            if stage == "vector" or step:  # The norm stage's step 0 is stage 1's best.
                record(stage, values)
            if step == count:
                break
            if not bounded:
                optimizer.apply_gradients(zip(gradients, variables))
                continue
            content_ratio = float(values[1]) * float(scales[1])
            if content_ratio > max_content_ratio:
                # Past the bound itself: the step was too long for its linear
                # approximation; shorter ones from here.
                optimizer.learning_rate.assign(optimizer.learning_rate * 0.5)
            at_bound = slide_along_bound(optimizer, variables, gradients, normal,
                                         content_ratio - aim, at_bound)

    def result():
        best_vector, best_offsets = snapshots["best"]
        return TuneResult(best_vector, None if best_offsets is None else
                          norm_params.unflatten(best_offsets, model.config.alpha), history, best)

    try:
        run_stage("vector", make_step([vector]), [vector], keras.optimizers.Adam(learning_rate),
                  steps)
        if norm_steps:
            restore_best()
            run_stage("norm", make_step([offsets]), [offsets],
                      keras.optimizers.Adam(norm_learning_rate), norm_steps)
    except KeyboardInterrupt:
        if not history:
            raise
        raise Interrupted(result()) from None
    return result()


def slide_along_bound(optimizer, variables, gradients, normal, excess, at_bound):
    """One Adam step that keeps the content loss at most at its bound (a projected
    gradient method, in the linear approximation).

    `gradients`: the objective's; `normal`: the gradient of content / C0; `excess`: the
    content ratio now minus the ratio aimed at. While the walk is at the bound
    (`at_bound`: the previous step was held back), the component of the gradient that
    would raise the content loss is removed before Adam sees it, so that its moments follow
    the bound instead of pushing into it. Then, if the step would carry the content ratio
    past the aim (excess + normal . step > 0), the step is moved back along `normal` onto
    it. Returns whether it was (the next call's `at_bound`). Rejecting such steps instead
    (undo, halve the learning rate) stalled the walk where the bound first bound.
    """
    normal = [np.asarray(n) for n in normal]
    norm2 = max(sum(float(np.sum(n * n)) for n in normal), 1e-30)
    if at_bound:
        push = sum(float(np.sum(np.asarray(g) * n)) for g, n in zip(gradients, normal))
        if push < 0:  # Descending would raise the content loss.
            gradients = [np.asarray(g) - (push / norm2) * n for g, n in zip(gradients, normal)]
    before = [v.numpy() for v in variables]
    optimizer.apply_gradients(zip(gradients, variables))
    steps = [v.numpy() - b for v, b in zip(variables, before)]
    over = excess + sum(float(np.sum(d * n)) for d, n in zip(steps, normal))
    if over > 0:
        for variable, start, step, n in zip(variables, before, steps, normal):
            variable.assign(start + step - (over / norm2) * n)
    return over > 0


def tune_vector(model, style_image, contents, *, loss, steps, learning_rate=DEFAULT_LEARNING_RATE,
                callback=None):
    """Optimises the style vector alone against `loss`'s total (no content bound).

    Returns (best_vector [100], history): the vector of the lowest loss seen and the loss
    at each step (history[0]: the predicted vector's). `callback(step, loss)`. Raises
    Interrupted (best_vector, history of losses) on a KeyboardInterrupt after step 0.
    """
    def progress(step, entry):
        if callback is not None:
            callback(step, entry["total"])

    try:
        result = tune(model, style_image, contents, loss=loss, steps=steps, norm_steps=0,
                      learning_rate=learning_rate, content_weight=1.0,
                      max_content_ratio=math.inf, relative=False, callback=progress)
    except Interrupted as stop:
        raise Interrupted(stop.result, [e["total"] for e in stop.result.history]) from None
    return result.vector, [entry["total"] for entry in result.history]


def builtin_contents():
    """The built-in content photos tuning uses without --contents (sorted paths)."""
    return sorted(BUILTIN_CONTENTS_DIR.glob("*.jpg"))


def styles_dir():
    """Where tuned styles live: `$ARBITRARY_STYLE_HOME/styles`."""
    return store.home() / "styles"


def _check_name(name):
    try:
        return registry.check_name(name)
    except ValueError as error:
        raise UserError(str(error).replace("weights name", "style name")) from None


def style_path(name):
    """The file of the cached tuned style `name` (whether or not it exists)."""
    return styles_dir() / f"{_check_name(name)}.json"


def builtin_path(name):
    """The file of the built-in style `name` (whether or not it exists)."""
    return BUILTIN_STYLES_DIR / f"{_check_name(name)}.json"


def encode_float16(values):
    """Numbers as base64 little-endian float16 (OFFSETS_DTYPE), as offsets are stored."""
    return base64.b64encode(np.asarray(values, "<f2").tobytes()).decode("ascii")


def encode_offsets(offsets):
    """{layer: (beta, gamma)} -> {layer: {"beta": base64, "gamma": base64}} (float16)."""
    return {key: {"beta": encode_float16(beta), "gamma": encode_float16(gamma)}
            for key, (beta, gamma) in sorted(offsets.items())}


def decode_offsets(encoded, where):
    """The inverse of `encode_offsets` (float32 arrays); UserError naming `where`."""
    offsets = {}
    try:
        for key, pair in encoded.items():
            beta, gamma = (np.frombuffer(base64.b64decode(pair[part], validate=True), "<f2")
                           .astype(np.float32) for part in ("beta", "gamma"))
            if beta.shape != gamma.shape or not beta.size:
                raise ValueError(f"{key}: {beta.size} betas, {gamma.size} gammas")
            if not (np.all(np.isfinite(beta)) and np.all(np.isfinite(gamma))):
                raise ValueError(f"{key}: values that are not finite")
            offsets[key] = (beta, gamma)
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise UserError(f"{where}: bad normalization parameters: {error}") from None
    if not offsets:
        raise UserError(f"{where}: empty normalization parameters")
    return offsets


def save(name, vector, *, weights, details, norm_offsets=None, directory=None):
    """Writes the tuned style `name` atomically (to the cache, or `directory`); `weights`
    names the weights it is for. Returns the path."""
    vector = np.asarray(vector, np.float64)
    record = {"format_version": FORMAT_VERSION, "name": name, "weights": weights,
              "vector": [float(x) for x in vector], **details}
    if norm_offsets is not None:
        record["norm_offsets_dtype"] = OFFSETS_DTYPE
        record["norm_offsets"] = encode_offsets(norm_offsets)
    path = (pathlib.Path(directory) / f"{_check_name(name)}.json" if directory
            else style_path(name))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic.atomic_file(path) as temporary:
            temporary.write_text(json.dumps(record, indent=1) + "\n")
    except OSError as error:
        raise UserError(f"cannot write the style to {path}: {error.strerror or error}") from None
    return path


def _read(path):
    try:
        record = json.loads(path.read_text())
        version, vector = record["format_version"], record["vector"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(f"{path} is not a tuned style: {error}") from None
    if version not in READABLE_VERSIONS:
        raise UserError(f"{path} has tuned-style format version {version}; this version of "
                        f"arbitrary_style reads version {FORMAT_VERSION}")
    if not (isinstance(vector, list) and len(vector) == STYLE_VECTOR_SIZE
            and all(isinstance(x, (int, float)) and math.isfinite(x) for x in vector)):
        raise UserError(f"{path}: the vector is not {STYLE_VECTOR_SIZE} finite numbers")
    if "norm_offsets" in record:
        if version < 2 or record.get("norm_offsets_dtype") != OFFSETS_DTYPE:
            raise UserError(f"{path}: normalization parameters need format version 2 and "
                            f"norm_offsets_dtype {OFFSETS_DTYPE!r}")
        decode_offsets(record["norm_offsets"], path)
    return record


def load(name):
    """The record of the tuned style `name` (the cache's, else the built-in one), validated;
    UserError names what is wrong. record["builtin"] tells which."""
    path = style_path(name)
    builtin = False
    if not path.is_file():
        path, builtin = builtin_path(name), True
        if not path.is_file():
            raise UserError(f"no tuned style {name!r} (in {styles_dir()} or the built-ins); "
                            f"make one with: python -m arbitrary_style.styles tune STYLE_IMAGE "
                            f"--name {name}")
    return {**_read(path), "builtin": builtin, "path": str(path)}


class TunedStyle(typing.NamedTuple):
    name: str
    vector: np.ndarray  # [100] float32
    norm_offsets: dict | None  # {layer: (beta [C], gamma [C])} or None
    record: dict


def style_for(name, weights):
    """The tuned style `name` with its per-layer offsets, refused unless tuned for `weights`.

    Every backend applies `norm_offsets` (`norm_params.flatten`, `pipeline.Stylizer`)."""
    record = load(name)
    if record.get("weights") != weights:
        raise UserError(f"tuned style {name!r} was made for the weights "
                        f"{record.get('weights')!r}, not {weights!r}; tune it again with "
                        f"--weights {weights}")
    offsets = (decode_offsets(record["norm_offsets"], record["path"])
               if "norm_offsets" in record else None)
    return TunedStyle(name, np.asarray(record["vector"], np.float32), offsets, record)


def norm_offsets_of_entries(styles, weights):
    """The per-layer offsets of a `--styles` blend (`specs.parse_styles` entries:
    (path, weight)), or None when no `@NAME` entry has any. Entries that are images or
    vector-only styles contribute nothing; weights are normalised to sum 1."""
    from arbitrary_style import norm_params

    entries = [(str(path), float(weight)) for path, weight in styles]
    total_weight = sum(weight for _, weight in entries)
    offsets, weights_list = [], []
    for path, weight in entries:
        if specs.is_tuned_style(path):
            offsets.append(style_for(path[1:], weights).norm_offsets)
            weights_list.append(weight / total_weight)
    return norm_params.scaled_sum(offsets, weights_list) if offsets else None


def names():
    """Names of the tuned styles in the cache, sorted."""
    directory = styles_dir()
    try:
        return sorted(p.stem for p in directory.glob("*.json")) if directory.is_dir() else []
    except OSError as error:
        raise UserError(f"cannot list {directory}: {error.strerror}") from None


def builtin_names():
    """Names of the built-in styles, sorted."""
    return sorted(p.stem for p in BUILTIN_STYLES_DIR.glob("*.json"))


def all_names():
    """Names of every usable style (cached or built-in), sorted."""
    return sorted(set(names()) | set(builtin_names()))


def remove(name):
    """Deletes the cached tuned style `name`; UserError if there is none."""
    path = style_path(name)
    try:
        path.unlink()
    except FileNotFoundError:
        hint = (" (a built-in style cannot be removed)" if builtin_path(name).is_file()
                else "")
        raise UserError(f"no tuned style {name!r} in {styles_dir()}{hint}") from None
    except OSError as error:
        raise UserError(f"cannot remove {path}: {error.strerror}") from None
