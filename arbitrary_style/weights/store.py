"""The project's weights format and the user's weights cache.

A weights directory holds `config.json` (format version, backbone, alpha, where the
weights came from) and `weights.npz` ({Keras variable path: array}). Directories in
the cache live at `$ARBITRARY_STYLE_HOME/weights/<name>` (default
`~/.cache/arbitrary_style`).
"""

import json
import pathlib
import zipfile

import numpy as np

from arbitrary_style import atomic, home as project_home
from arbitrary_style.errors import UserError
from arbitrary_style.model_config import ModelConfig
from arbitrary_style.weights import builtin, registry
from arbitrary_style.weights.variables import assign_weights, check_fits, describe_config
from arbitrary_style.weights.registry import DEFAULT_WEIGHTS

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.npz"
# A weights file larger than this is refused unread (the largest model, the Inception-v3
# predictor with an alpha 1.0 transformer, is about 100 MB in float32).
MAX_WEIGHTS_BYTES = 2**30


def home():
    """The cache root: $ARBITRARY_STYLE_HOME, or ~/.cache/arbitrary_style.

    Raises UserError when it exists but is not a directory.
    """
    root = project_home.cache_root()
    if root.exists() and not root.is_dir():
        raise UserError(f"the cache {root} (ARBITRARY_STYLE_HOME) is not a directory")
    return root


def cache_dir(name):
    """Where the cached weights called `name` live (whether or not they exist).

    Raises UserError for a name that is not plain (`registry.check_name`): no name
    reaches outside the cache.
    """
    try:
        return home() / "weights" / registry.check_name(name)
    except ValueError as error:
        raise UserError(str(error)) from None


def cached_names(folder="weights"):
    """Names of the entries (directories with a config.json) in the cache's `folder`, sorted:
    the weights, or (`loss_networks`) the imported loss networks."""
    root = home() / folder
    try:
        if not root.is_dir():
            return []
        return sorted(p.name for p in root.iterdir() if (p / CONFIG_FILE).is_file())
    except OSError as error:
        raise UserError(f"cannot list the cache {root}: {error.strerror}") from None


def resolve_weights(name_or_dir=None):
    """The weights directory for a path, a cache name, or (None) the default weights.

    The default weights are built into the package (`builtin.directory()`, used in place);
    weights imported into the cache under the default name override them. A cached copy
    of the built-in ones (older versions wrote one) is passed over for the package's.
    """
    name_or_dir = str(name_or_dir or DEFAULT_WEIGHTS)
    path = pathlib.Path(name_or_dir)
    if path.is_dir():
        return path
    if not registry.is_valid_name(name_or_dir):
        raise UserError(f"weights {name_or_dir!r}: no such directory, and not a valid cache "
                        "name (letters, digits and '-_.')")
    cached = cache_dir(name_or_dir)
    if name_or_dir == DEFAULT_WEIGHTS and not _is_user_override(cached):
        return builtin.directory()
    if cached.is_dir():
        return cached
    known = registry.KNOWN_WEIGHTS.get(name_or_dir)
    hint = f"get them with: {known.get}" if known else "and it is not a weights directory either"
    raise UserError(f"weights {name_or_dir!r} are not in the cache ({home() / 'weights'}); {hint}")


def _is_user_override(directory):
    """True when `directory` holds weights the user put there (not a copy of the built-in)."""
    if not directory.is_dir():
        return False
    try:
        return json.loads((directory / CONFIG_FILE).read_text()).get("source") != builtin.SOURCE
    except (OSError, ValueError, AttributeError):
        return True  # Not readable as ours: read_config will say what is wrong with it.


def save_model(model, directory, *, source=""):
    """Writes a model atomically (`atomic.atomic_directory`), creating missing parents.

    An existing directory at `directory` is replaced only once the new one is complete.
    Raises UserError when the directory cannot be written (read-only cache, a file in the way).
    """
    directory = pathlib.Path(directory)
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        with atomic.atomic_directory(directory) as staging:
            write_config(staging, model.config, source=source)
            arrays = {path: variable.numpy() for path, variable in model.variables.items()}
            np.savez(staging / WEIGHTS_FILE, **arrays)
    except OSError as error:
        raise UserError(f"cannot write weights to {directory}: "
                        f"{error.strerror or error}") from None


def write_config(directory, config, *, source, **fields):
    """Writes `config.json` (format version, backbone, alpha, source, `fields`)."""
    described = {"format_version": FORMAT_VERSION, **_config_dict(config), "source": source,
                 **fields}
    (pathlib.Path(directory) / CONFIG_FILE).write_text(json.dumps(described, indent=2) + "\n")


def read_config(directory):
    """The validated `ModelConfig` and the raw config dict of a weights directory."""
    directory = pathlib.Path(directory)
    config_path = directory / CONFIG_FILE
    if not directory.is_dir():
        raise UserError(f"weights directory {directory} does not exist")
    if not config_path.is_file():
        raise UserError(f"{directory} is not an arbitrary_style weights directory "
                        f"(no {CONFIG_FILE})")
    try:
        raw = json.loads(config_path.read_text())
        version = raw["format_version"]
        config = ModelConfig(backbone=raw["backbone"], alpha=float(raw["alpha"]))
    except (ValueError, KeyError, TypeError) as error:
        raise UserError(f"{config_path} is not a valid weights config: {error}") from None
    if version != FORMAT_VERSION:
        raise UserError(f"{directory} has weights format version {version}; this version of "
                        f"arbitrary_style reads version {FORMAT_VERSION}")
    return config, raw


def load_model(directory, *, expected_config=None):
    """Builds a StyleModel from a weights directory, checking every variable.

    Names, shapes and dtypes are checked from the archive's headers before any entry is
    decompressed. Raises UserError when the directory is not ours, its config differs from
    `expected_config`, or its arrays do not match the model's variables.
    """
    config, _ = read_config(directory)
    if expected_config is not None and config != expected_config:
        raise UserError(f"{directory} holds weights for {describe_config(config)}, "
                        f"not {describe_config(expected_config)}")
    if builtin.is_packed(directory):
        return builtin.builtin_model(pathlib.Path(directory) / builtin.PACKED_FILE)
    from arbitrary_style.model import StyleModel  # TensorFlow: only when a model is built.

    weights_path = pathlib.Path(directory) / WEIGHTS_FILE
    check_weights_file(weights_path)
    model = StyleModel(config)
    try:
        arrays = read_weights_file(weights_path, model)
    except UserError as error:
        raise UserError(f"{error} ({CONFIG_FILE} says {describe_config(config)}; does it describe "
                        "these weights?)") from None
    check_finite(arrays, source=str(weights_path))
    assign_weights(model, arrays, source=str(weights_path))
    return model


def check_weights_file(path):
    """Raises UserError unless `path` is a regular file of at most MAX_WEIGHTS_BYTES (checked
    without opening it: reading a FIFO or a link to /dev/zero would never end)."""
    from arbitrary_style import image_io

    size = image_io.check_regular_file(path, role="weights").st_size
    if size > MAX_WEIGHTS_BYTES:
        raise UserError(f"{path} is {size:,} bytes, over the {MAX_WEIGHTS_BYTES:,} bytes "
                        "that any weights of this project take; not a weights file")


def check_finite(arrays, *, source):
    """Raises UserError naming the first array of {path: array} that holds NaN or inf (such
    weights stylize to black or garbage without any other sign)."""
    for path, array in arrays.items():
        if not np.all(np.isfinite(array)):
            raise UserError(f"{source}: {path!r} holds non-finite values (NaN or inf); the "
                            "weights are damaged")


def read_weights_file(path, model):
    """{variable path: array} from a weights .npz that fits `model`, header-checked first."""
    try:
        with zipfile.ZipFile(path) as archive:
            headers = {info.filename.removesuffix(".npy"): _npy_header(archive, info)
                       for info in archive.infolist()}
            check_fits(model, {name: shape for name, (shape, _) in headers.items()},
                       source=str(path))
            for name, (_, dtype) in headers.items():
                if dtype.kind != "f" or dtype.itemsize > 8:
                    raise UserError(f"{path}: {name!r} holds {dtype}, not floating-point values")
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise UserError(f"cannot read {path}: {error}") from None


def _npy_header(archive, info):
    """(shape, dtype) of one .npy entry, read from its header alone."""
    with archive.open(info) as entry:
        version = np.lib.format.read_magic(entry)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, _, dtype = read_header(entry)
    return tuple(shape), dtype


def _config_dict(config):
    return {"backbone": config.backbone, "alpha": config.alpha}
