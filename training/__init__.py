"""Training, distillation and evaluation jobs built on the `arbitrary_style` library (they
need the `tensorflow` extra)."""

import arbitrary_style  # noqa: F401  First: quiet TensorFlow, Keras's files in the cache, and
# one `error:` line naming the extra when TensorFlow is not installed.
