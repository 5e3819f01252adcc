"""Real-time arbitrary-style neural style transfer (Ghiasi et al. 2017) on TensorFlow 2.

    import arbitrary_style as style
    model = style.load_pretrained()                      # cached default weights
    content = style.load_image("photo.jpg")
    vector = style.blend_style_vectors(
        [model.predict_style(style.load_image(p)) for p in ("a.jpg", "b.jpg")], [0.7, 0.3])
    vector = style.apply_strength(vector, model.predict_style(content), 0.8)
    style.save_image(model.stylize(content, vector, preserve_colors=False), "out.png")
"""

from arbitrary_style import quiet_tensorflow

quiet_tensorflow.install()

from arbitrary_style.errors import UserError  # noqa: E402 (after the quiet import hook)
from arbitrary_style.image_io import load_image, save_image  # noqa: E402
from arbitrary_style.model import (ModelConfig, StyleModel, apply_strength, blend_style_vectors,
                                   transfer_luminance)
from arbitrary_style.weights.store import load_model, resolve_weights


def load_pretrained(name_or_dir=None):
    """A StyleModel from a cache name, a weights directory, or (None) the default weights."""
    return load_model(resolve_weights(name_or_dir))


__all__ = ["ModelConfig", "StyleModel", "UserError", "apply_strength", "blend_style_vectors",
           "load_image", "load_model", "load_pretrained", "save_image", "transfer_luminance"]
