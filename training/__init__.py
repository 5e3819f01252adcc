"""Training, distillation and evaluation jobs built on the `arbitrary_style` library (they
need the `tensorflow` extra)."""

import arbitrary_style  # noqa: F401  First: a quiet `import tensorflow`, and one `error:` line
# naming the extra when TensorFlow is not installed.
