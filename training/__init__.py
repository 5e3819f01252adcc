"""Training, distillation and evaluation jobs built on the `arbitrary_style` library."""

import arbitrary_style  # noqa: F401  First: quiet TensorFlow, Keras's files in the cache.
