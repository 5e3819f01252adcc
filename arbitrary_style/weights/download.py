"""Fetching the official pretrained weights (needs network) and converting them.

Downloads go through `tensorflow_hub.resolve`, which fetches a TF-Hub handle or any
http(s) `.tar.gz`, unpacks it atomically and caches it under $TFHUB_CACHE_DIR.
"""

import dataclasses
import pathlib

from arbitrary_style.errors import UserError
from arbitrary_style.weights.importers import import_checkpoint, model_from_tensors

MAGENTA_CHECKPOINT_URL = ("https://storage.googleapis.com/download.magenta.tensorflow.org/"
                          "models/arbitrary_style_transfer.tar.gz")
TFHUB_HANDLE = "https://tfhub.dev/google/magenta/arbitrary-image-stylization-v1-256/2"


@dataclasses.dataclass(frozen=True)
class Source:
    url: str
    kind: str  # "checkpoint": a TF1 checkpoint inside a tarball; "saved_model": a TF-Hub model.
    description: str


SOURCES = {
    "magenta": Source(MAGENTA_CHECKPOINT_URL, "checkpoint",
                      "Magenta's released checkpoint: Inception-v3 predictor, alpha 1.0 "
                      "(the paper's model)"),
    "magenta-hub": Source(TFHUB_HANDLE, "saved_model",
                          "TF-Hub magenta/arbitrary-image-stylization-v1-256/2 "
                          "(the same model as a SavedModel)"),
}


def find_checkpoint(directory):
    """The prefix of the one TF checkpoint (`*.index`) anywhere under `directory`."""
    indexes = sorted(pathlib.Path(directory).rglob("*.index"))
    if len(indexes) != 1:
        raise UserError(f"expected one TF checkpoint under {directory}, found {len(indexes)}")
    return indexes[0].with_suffix("")


def read_saved_model_variables(path):
    """{TF variable name: array} of a SavedModel, e.g. Magenta's TF-Hub module."""
    import tensorflow_hub as hub

    loaded = hub.load(str(path))
    return {v.name.removesuffix(":0"): v.numpy() for v in loaded.variables}


def download(name, *, url=None):
    """Fetches the named official weights (or the same kind of file from `url`) as a StyleModel."""
    import tensorflow_hub as hub

    if name not in SOURCES:
        raise UserError(f"unknown weights source {name!r}; choose one of {sorted(SOURCES)}")
    source = SOURCES[name]
    handle = url or source.url
    try:
        local = hub.resolve(handle)
    except (OSError, ValueError) as error:
        raise UserError(f"cannot download {handle}: {str(error).splitlines()[0]}") from None
    if source.kind == "checkpoint":
        return import_checkpoint(find_checkpoint(local))
    return model_from_tensors(read_saved_model_variables(local), "HWIO", source=handle)
