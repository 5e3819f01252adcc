"""Real-time arbitrary-style neural style transfer (Ghiasi et al. 2017) on TensorFlow 2.

    import arbitrary_style as style
    model = style.load_pretrained()                      # cached default weights
    content = style.load_image("photo.jpg")
    vector = style.blend_style_vectors(
        [model.predict_style(style.load_image(p)) for p in ("a.jpg", "b.jpg")], [0.7, 0.3])
    vector = style.apply_strength(vector, model.predict_style(content), 0.8)
    style.save_image(model.stylize(content, vector, preserve_colors=False), "out.png")

The names below are imported on first use, so a command's `--help` and argument errors
do not wait for TensorFlow.
"""

import importlib

from arbitrary_style import extras, home, quiet_tensorflow
from arbitrary_style.version import __version__  # noqa: F401 (the package version)

quiet_tensorflow.install()
home.keep_third_party_files_in_cache()
extras.report_missing_extras_in_commands()

_LAZY = {
    "UserError": "arbitrary_style.errors",
    "load_image": "arbitrary_style.image_io",
    "save_image": "arbitrary_style.image_io",
    "ModelConfig": "arbitrary_style.model_config",
    "StyleModel": "arbitrary_style.model",
    "apply_strength": "arbitrary_style.style_vectors",
    "blend_style_vectors": "arbitrary_style.style_vectors",
    "transfer_luminance": "arbitrary_style.image_io",
    "load_model": "arbitrary_style.weights.store",
    "resolve_weights": "arbitrary_style.weights.store",
}


def load_pretrained(name_or_dir=None):
    """A StyleModel from a cache name, a weights directory, or (None) the default weights."""
    from arbitrary_style.weights.store import load_model, resolve_weights

    return load_model(resolve_weights(name_or_dir))


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'arbitrary_style' has no attribute {name!r}")


__all__ = ["ModelConfig", "StyleModel", "UserError", "apply_strength", "blend_style_vectors",
           "load_image", "load_model", "load_pretrained", "save_image", "transfer_luminance"]
