"""The project's cache root, and the files of Keras and onnxruntime kept out of HOME.

On import Keras writes `~/.keras/keras.json` (and `keras.applications` downloads ImageNet
weights into `~/.keras/models`); onnxruntime 1.32 creates
`~/.cache/Microsoft/DeveloperTools/.onnxruntime/` holding a device id and an SQLite queue of
telemetry events (OS, CPU model, Python path). `keep_third_party_files_in_cache()` (run by
the package's `__init__`, before either is imported) points KERAS_HOME at
`$ARBITRARY_STYLE_HOME/keras` and sets ORT_DISABLE_TELEMETRY=1, which stops onnxruntime's
telemetry and its files; a value the user has set for either is kept.
"""

import os
import pathlib

HOME_VARIABLE = "ARBITRARY_STYLE_HOME"


def cache_root():
    """$ARBITRARY_STYLE_HOME, or ~/.cache/arbitrary_style (unchecked; see `store.home`)."""
    return pathlib.Path(os.environ.get(HOME_VARIABLE)
                        or pathlib.Path.home() / ".cache" / "arbitrary_style")


def keep_third_party_files_in_cache():
    """Sets KERAS_HOME and ORT_DISABLE_TELEMETRY unless set (each library reads its variable
    when it is imported)."""
    os.environ.setdefault("KERAS_HOME", str(cache_root() / "keras"))
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
