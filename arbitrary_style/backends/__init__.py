"""Where the networks run. Every backend offers one contract, `Backend`; one module per
backend, loaded by name through `REGISTRY` (the `--backend` choices and the `backend`
that `--json` reports):

    model = backends.load(weights_dir, "auto")
    stylized = model.stylize(content, model.predict_style(style))

- `light`: onnxruntime graphs generated from the Keras model (`light`, `light_graphs`):
  no TensorFlow import once the graphs exist (the built-in weights ship theirs).
- `tensorflow`: the Keras `StyleModel` itself (`tensorflow`).

Both share their pre- and post-processing (`network_io.NetworkRunner`).
"""

import importlib
import sys
from typing import Protocol, runtime_checkable

from arbitrary_style.errors import UserError

# Backend name -> the module that loads it (imported on first use: TensorFlow is heavy).
REGISTRY = {"light": "arbitrary_style.backends.light",
            "tensorflow": "arbitrary_style.backends.tensorflow"}
AUTO = "auto"
CHOICES = (AUTO, *REGISTRY)


@runtime_checkable
class Backend(Protocol):
    """What the pipeline needs of a model, whatever runs it (see network_io.NetworkRunner
    for the arrays). `backend` is its REGISTRY name."""

    backend: str
    config: object  # model_config.ModelConfig
    moments_size: int

    def predict_style(self, style_image, size=...):
        """Style vector [100] of [H,W,3] ([B,100] of [B,H,W,3])."""

    def stylize(self, content_image, style_vector, *, norm_offsets=None,
                preserve_colors=False):
        """Stylized [H,W,3] (or [B,H,W,3]) float32 in [0, 1], the content's size; norm
        offsets [M] (or [B,M]) added to the instance norms' beta and gamma."""

    def instance_moments(self, content_image, style_vector, *, norm_offsets=None):
        """The content's own instance-norm moments [M] (or [B,M])."""

    def stylize_with_moments(self, content_image, style_vector, moments=None,
                             moments_weight=1.0, *, norm_offsets=None, preserve_colors=False):
        """(stylized, own instance-norm moments [M] or [B,M]) normalising with
        `w * moments + (1 - w) * own`."""


def backend_module(name):
    """The module of the backend `name` (it defines `load(weights_dir, num_threads)`)."""
    if name not in REGISTRY:
        raise UserError(f"unknown backend {name!r}; choose one of {', '.join(CHOICES)}")
    return importlib.import_module(REGISTRY[name])


def load(weights_dir, backend=AUTO, num_threads=None):
    """The model of `weights_dir` on `backend` (the light path with `num_threads` threads,
    default all of this process's CPUs).

    "light": the light graphs (built and cached on first use for weights that do not
    carry theirs, which imports TensorFlow once); "tensorflow": the Keras StyleModel;
    "auto": light where onnxruntime is installed and the graphs can be built or are
    cached, else TensorFlow (with one warning line when the graphs cannot be written).
    """
    if backend != AUTO:
        return backend_module(backend).load(weights_dir, num_threads)
    light = backend_module("light")
    try:
        model = light.load_built(weights_dir, num_threads)
    except ImportError:  # onnxruntime is not installed
        model = None
    if model is not None:
        return model
    keras_model = backend_module("tensorflow").load(weights_dir)  # Bad weights fail here.
    try:
        return light.build(weights_dir, keras_model, num_threads)
    except (ImportError, UserError) as error:  # no converter, or unwritable graph cache
        if isinstance(error, UserError):
            _warn_once(f"warning: {error}; using the slower TensorFlow backend (each run "
                       "tries again: make the cache writable, or set ARBITRARY_STYLE_HOME)")
        return keras_model


_WARNED = set()


def _warn_once(line):
    """Prints `line` on stderr the first time this process asks (a batch worker may load the
    model several times)."""
    if line not in _WARNED:
        _WARNED.add(line)
        print(line, file=sys.stderr)
