"""The `tensorflow` backend: the Keras StyleModel itself (`arbitrary_style.model`)."""

from arbitrary_style.weights import store


def load(weights_dir, num_threads=None):
    """The StyleModel of `weights_dir` (TensorFlow picks its own threads)."""
    del num_threads
    return store.load_model(weights_dir)
