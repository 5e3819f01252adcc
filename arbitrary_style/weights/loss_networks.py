"""Imported ImageNet loss networks in the cache: `$ARBITRARY_STYLE_HOME/loss_networks/<name>`.

A loss-network directory holds `config.json` (format version, network, where the weights
came from), `weights.npz` ({Keras layer name}/kernel and /bias, float32, kernels HWIO) and
`NOTICE` (the weights' attribution). `losses.StyleLoss` uses the cached network of its
kind (`vgg19`) for `--vgg_weights imagenet`, or any such directory given by path.
"""

import json
import pathlib

import numpy as np

from arbitrary_style import atomic
from arbitrary_style.errors import UserError
from arbitrary_style.weights import registry, store

FORMAT_VERSION = 1
NOTICE_FILE = "NOTICE"
FOLDER = "loss_networks"  # In the cache, beside `weights`.


def cache_dir(name):
    """Where the loss network called `name` lives in the cache (whether or not it exists)."""
    try:
        return store.home() / FOLDER / registry.check_name(name)
    except ValueError as error:
        raise UserError(str(error)) from None


def cached(network):
    """The cache directory of `network` (e.g. "vgg19") if it has been imported, else None."""
    directory = cache_dir(network)
    return directory if (directory / store.CONFIG_FILE).is_file() else None


def cached_names():
    """Names of the loss networks in the cache, sorted."""
    return store.cached_names(FOLDER)


def save(directory, network, layers, *, source, notice, details=None):
    """Writes {layer: (kernel, bias)} as a loss-network directory, atomically."""
    directory = pathlib.Path(directory)
    arrays = {}
    for layer, (kernel, bias) in layers.items():
        arrays[f"{layer}/kernel"] = np.asarray(kernel, np.float32)
        arrays[f"{layer}/bias"] = np.asarray(bias, np.float32)
    config = {"format_version": FORMAT_VERSION, "kind": "loss_network", "network": network,
              "source": source, **(details or {})}
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        with atomic.atomic_directory(directory) as staging:
            (staging / store.CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
            (staging / NOTICE_FILE).write_text(notice)
            np.savez(staging / store.WEIGHTS_FILE, **arrays)
    except OSError as error:
        raise UserError(f"cannot write the loss network to {directory}: "
                        f"{error.strerror or error}") from None


def read_config(directory):
    """The config dict of a loss-network directory; UserError if it is not one."""
    path = pathlib.Path(directory) / store.CONFIG_FILE
    try:
        config = json.loads(path.read_text())
        valid = config.get("kind") == "loss_network" and config["format_version"] == FORMAT_VERSION
    except (OSError, ValueError, KeyError, AttributeError) as error:
        raise UserError(f"{directory} is not a loss-network directory: {error}") from None
    if not valid:
        raise UserError(f"{directory} is not a loss-network directory of format version "
                        f"{FORMAT_VERSION}")
    return config


def load_layers(directory, network):
    """{Keras layer name: (kernel, bias)} of a loss-network directory holding `network`."""
    config = read_config(directory)
    if config.get("network") != network:
        raise UserError(f"{directory} holds the loss network {config.get('network')!r}, "
                        f"not {network!r}")
    path = pathlib.Path(directory) / store.WEIGHTS_FILE
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError) as error:
        raise UserError(f"cannot read {path}: {error}") from None
    layers = sorted({key.rpartition("/")[0] for key in arrays})
    try:
        return {layer: (arrays[f"{layer}/kernel"], arrays[f"{layer}/bias"]) for layer in layers}
    except KeyError as error:
        raise UserError(f"{path} lacks {error.args[0]}") from None
