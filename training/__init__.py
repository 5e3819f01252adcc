"""Training, distillation and evaluation jobs built on the `arbitrary_style` library."""
