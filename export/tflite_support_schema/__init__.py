"""TensorFlow Lite metadata schema (tflite-support 0.4.4), vendored; see PROVENANCE.md."""
