"""Exporters: SavedModel, TF-Hub module, TFLite and TF.js from project weights."""

import arbitrary_style  # noqa: F401  First: makes the exporters' `import tensorflow` quiet.
