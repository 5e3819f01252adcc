"""Which optional extra a missing module belongs to, and the one line that says so.

The core install runs the light path (onnxruntime): stylizing images, videos and, with the
`beam` extra, batches. Training, exports, optimization, `--backend tensorflow` and light
graphs for custom weights need the `tensorflow` extra. A command that reaches a module of
a missing extra ends with one `error:` line naming the extra to install, not a traceback.
"""

import sys

# Top-level module -> the extra (pyproject.toml's optional-dependencies) that installs it.
EXTRA_OF_MODULE = {
    **dict.fromkeys(("tensorflow", "keras", "tf_keras", "tensorflow_hub", "tensorflow_datasets",
                     "tensorboard", "tf2onnx", "onnx", "scipy"), "tensorflow"),
    "apache_beam": "beam",
    "cv2": "temporal",
}


def missing_extra_message(error):
    """The one-line message for a ModuleNotFoundError of an extra's module, else None."""
    name = (getattr(error, "name", None) or "").partition(".")[0]
    extra = EXTRA_OF_MODULE.get(name)
    if extra is None:
        return None
    return (f"this needs the '{extra}' extra ({name} is not installed): "
            f"pip install 'arbitrary_style[{extra}]'")


def _excepthook(kind, error, traceback):
    message = missing_extra_message(error) if issubclass(kind, ModuleNotFoundError) else None
    if message is None:
        sys.__excepthook__(kind, error, traceback)
    else:
        print(f"error: {message}", file=sys.stderr)


def install_hook():
    """Ends the process with `missing_extra_message` for an uncaught import error of a
    missing extra's module (other errors keep Python's traceback)."""
    sys.excepthook = _excepthook


def report_missing_extras_in_commands():
    """`install_hook` when a command is being started with `python -m` (the commands'
    packages call this from their `__init__`, which runpy imports while sys.argv[0] is
    still "-m"); a program that imports the package keeps its own excepthook."""
    if sys.argv[:1] == ["-m"]:
        install_hook()
