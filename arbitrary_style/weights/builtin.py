"""The built-in weights: Magenta's mobile model, shipped in the package ready to run.

`arbitrary_style/pretrained/magenta-mobile/` is a weights directory of its own:
`config.json`, the packed weights `packed.npz`, and the light graphs `predict.onnx` /
`transfer.onnx` / `transfer_moments.onnx` generated from the Keras model with these int8 weights inside, so the
light path runs it without any build.

`packed.npz` holds exactly the tensors of the ONNX pair (int8/int32 values with their
per-channel scales and zero points, and float32 tensors as they are), so dequantizing
them at load gives bit for bit the weights that `python -m arbitrary_style.weights import
--onnx DIR` gives. `tools/pack_builtin_weights.py` writes the whole directory: the packed
file deterministically from the pair (`pack`), then the config and the graphs.

The file is a zip of `.npy` entries (read with `np.load(allow_pickle=False)`) and a
`manifest.json`: format, version, layout, the sha256 of each source file, and the
tensors in order, each `float` (entry `<name>/values.npy`) or `quantized` with its
axis (entries `<name>/values.npy`, `<name>/scale.npy`, `<name>/zero_point.npy`).

Reading needs numpy only; building the model (`builtin_model`) needs TensorFlow.
"""

import hashlib
import io
import json
import pathlib
import zipfile
from importlib import resources

import numpy as np

from arbitrary_style.errors import UserError
from arbitrary_style.weights.quantized import QuantizedTensor, to_float

BUILTIN_NAME = "magenta-mobile"
PACKED_FILE = "packed.npz"
SOURCE = f"builtin:{BUILTIN_NAME}"
ONNX_FILES = ("arbitrary_predict.onnx", "arbitrary_transform.onnx")
FORMAT = "arbitrary_style.packed_weights"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_QUANTIZED_PARTS = ("values", "scale", "zero_point")
# Fixed zip metadata, so the same tensors always give the same bytes.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_ZIP_UNIX = 3
_ZIP_MODE = 0o644 << 16


def directory():
    """The built-in weights directory inside the installed package."""
    return pathlib.Path(str(resources.files("arbitrary_style") / "pretrained" / BUILTIN_NAME))


def packed_path():
    """The built-in packed weights file."""
    return directory() / PACKED_FILE


def is_packed(weights_dir):
    """True for a weights directory that holds packed weights (the built-in ones)."""
    return (pathlib.Path(weights_dir) / PACKED_FILE).is_file()


def read_tensors(path=None):
    """{Magenta variable name: QuantizedTensor or float32 array} of a packed file (default:
    the built-in one)."""
    return _read(path)[1]


def read_packed(path=None):
    """{Magenta variable name: float32 array} from a packed file (default: the built-in one),
    equal to what `onnx_import.read_onnx_weights` gives for the ONNX pair it was packed from."""
    return {name: to_float(tensor) for name, tensor in read_tensors(path).items()}


def builtin_model(path=None):
    """The StyleModel of the built-in weights (or of another packed file)."""
    from arbitrary_style.weights.importers import model_from_tensors

    manifest, tensors = _read(path)
    tensors = {name: to_float(tensor) for name, tensor in tensors.items()}
    return model_from_tensors(tensors, manifest["layout"],
                              source=f"builtin:{manifest['name']}")


def _read(path):
    """(manifest, {name: QuantizedTensor or float32 array}) of a packed file."""
    path = packed_path() if path is None else pathlib.Path(path)
    try:
        with path.open("rb") as file, np.load(file, allow_pickle=False) as archive:
            manifest = json.loads(archive[MANIFEST])
            _check_manifest(manifest, path)
            return manifest, {entry["name"]: _tensor(archive, entry)
                              for entry in manifest["tensors"]}
    except FileNotFoundError:
        raise UserError(f"the built-in weights {path} are missing; is arbitrary_style "
                        "installed with its package data?") from None
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
        raise UserError(f"cannot read packed weights {path}: {error}") from None


def _check_manifest(manifest, path):
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise UserError(f"{path} is not {FORMAT} version {FORMAT_VERSION}")


def _tensor(archive, entry):
    name = entry["name"]
    if entry["kind"] == "float":
        return archive[f"{name}/values.npy"]
    parts = {part: archive[f"{name}/{part}.npy"] for part in _QUANTIZED_PARTS}
    return QuantizedTensor(**parts, axis=int(entry["axis"]))


def pack(onnx_dir, out_path):
    """Writes the packed file for the ONNX pair in `onnx_dir` to `out_path` (atomically).

    Needs the `onnx` package. The same pair always gives the same bytes.
    """
    from arbitrary_style import atomic
    from arbitrary_style.weights.onnx_import import LAYOUT, read_onnx_tensors

    paths = [pathlib.Path(onnx_dir) / name for name in ONNX_FILES]
    for path in paths:
        if not path.is_file():
            raise UserError(f"{path} does not exist (expected the ONNX pair "
                            f"{' / '.join(ONNX_FILES)})")
    tensors = {}
    for path in paths:
        tensors.update(read_onnx_tensors(path))
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "name": BUILTIN_NAME,
                "layout": LAYOUT,
                "sources": {path.name: sha256(path) for path in paths},
                "tensors": [_manifest_entry(name, tensor) for name, tensor in tensors.items()]}
    entries = {MANIFEST: (json.dumps(manifest, indent=1) + "\n").encode()}
    for name, tensor in tensors.items():
        entries.update({f"{name}/{part}.npy": _npy_bytes(array)
                        for part, array in _arrays(tensor).items()})
    with atomic.atomic_file(out_path) as temporary:
        _write_zip(temporary, entries)


def _manifest_entry(name, tensor):
    if isinstance(tensor, QuantizedTensor):
        return {"name": name, "kind": "quantized", "axis": tensor.axis}
    return {"name": name, "kind": "float"}


def _arrays(tensor):
    if isinstance(tensor, QuantizedTensor):
        return {part: getattr(tensor, part) for part in _QUANTIZED_PARTS}
    return {"values": tensor}


def _npy_bytes(array):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def _write_zip(path, entries):
    """A zip of {name: bytes} with fixed dates and modes (np.savez stamps the time).

    Stored, not deflated: deflate's bytes differ between zlib builds (zlib-ng), which
    would break the regenerated-equals-committed check; deflate saves only ~12% here.
    """
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.create_system, info.external_attr = _ZIP_UNIX, _ZIP_MODE
            info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, data)


def sha256(path):
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()
