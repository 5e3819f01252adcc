"""Exporters: SavedModel, TF-Hub module, TFLite and TF.js from project weights."""

import arbitrary_style  # noqa: F401  First: a quiet `import tensorflow`, and one `error:`
# line naming the extra when TensorFlow is not installed.
