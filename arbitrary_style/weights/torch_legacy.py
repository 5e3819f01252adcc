"""Reads a legacy (pre-1.6) `torch.save` stream of tensors with pickle and numpy alone.

The stream is five pickles and the raw storages: the magic number, the protocol version,
system info, the saved object (a dict whose tensors name their storages by persistent id
`('storage', <torch.XStorage>, key, location, size, view)`), the list of storage keys, then
per key an int64 element count and the little-endian data.

    tensors = read_tensors(stream)      # {name: np.ndarray}

Unpickling is restricted: the only globals resolved are the tensor rebuild function, the
storage types of `STORAGE_DTYPES` and `collections.OrderedDict` (a tensor's empty backward
hooks), each mapped to our own harmless stand-in; any other global is refused before it
could run.
"""

import collections
import io
import pickle
import typing

import numpy as np

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
STORAGE_DTYPES = {"ByteStorage": np.dtype(np.uint8), "FloatStorage": np.dtype("<f4")}


class FormatError(ValueError):
    """The stream is not a legacy torch.save stream of plain tensors, or is damaged."""


class _StorageType(typing.NamedTuple):
    dtype: np.dtype


class _Storage(typing.NamedTuple):
    key: str
    dtype: np.dtype
    size: int


class _Tensor(typing.NamedTuple):
    storage: _Storage
    offset: int
    shape: tuple
    stride: tuple


def _rebuild_tensor(storage, offset, shape, stride, requires_grad=False, backward_hooks=None):
    """Stands in for torch._utils._rebuild_tensor_v2: records where the tensor's values are."""
    if not (isinstance(storage, _Storage) and _is_count(offset)
            and isinstance(shape, tuple) and all(map(_is_count, shape))
            and isinstance(stride, tuple) and all(map(_is_count, stride))
            and len(shape) == len(stride)):
        raise FormatError("a tensor record is not (storage, offset, shape, stride, ...)")
    return _Tensor(storage, offset, shape, stride)


def _is_count(value):
    return type(value) is int and value >= 0


_ALLOWED_GLOBALS = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("collections", "OrderedDict"): collections.OrderedDict,
    **{("torch", name): _StorageType(dtype) for name, dtype in STORAGE_DTYPES.items()},
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise FormatError(f"refusing the pickled global {module}.{name}: only plain "
                              "tensors are expected") from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str)
                and isinstance(pid[3], str) and _is_count(pid[4]) and pid[5] is None):
            raise FormatError(f"unexpected persistent id {pid!r:.80}")
        return _Storage(pid[2], pid[1].dtype, pid[4])


def _load(stream):
    return _RestrictedUnpickler(stream).load()


def read_tensors(stream):
    """{name: numpy array} of a legacy torch.save stream holding a dict of tensors.

    Raises FormatError for anything else: a wrong magic number or protocol, a pickled
    global other than the expected ones, a truncated or inconsistent storage.
    """
    try:
        if _load(stream) != MAGIC_NUMBER:
            raise FormatError("not a legacy torch.save stream (wrong magic number)")
        if _load(stream) != PROTOCOL_VERSION:
            raise FormatError("unsupported torch.save protocol version")
        system = _load(stream)
        if not isinstance(system, dict) or system.get("little_endian") is not True:
            raise FormatError("only little-endian streams are supported")
        saved = _load(stream)
        keys = _load(stream)
    except (pickle.UnpicklingError, EOFError, TypeError, ValueError, IndexError,
            KeyError, AttributeError) as error:
        if isinstance(error, FormatError):
            raise
        raise FormatError(f"damaged stream: {error}") from None
    if not (isinstance(saved, dict) and all(isinstance(k, str) and isinstance(v, _Tensor)
                                            for k, v in saved.items())):
        raise FormatError("the saved object is not a dict of named tensors")
    storages = {tensor.storage.key: tensor.storage for tensor in saved.values()}
    if not isinstance(keys, list) or sorted(keys) != sorted(storages):
        raise FormatError("the storage list does not match the tensors' storages")
    data = {key: _read_storage(stream, storages[key]) for key in keys}
    return {name: _view(data[tensor.storage.key], tensor, name)
            for name, tensor in saved.items()}


def _read_storage(stream, storage):
    count = int.from_bytes(_read_exactly(stream, 8), "little", signed=True)
    if count != storage.size:
        raise FormatError(f"storage {storage.key} holds {count} elements, its tensors say "
                          f"{storage.size}")
    return np.frombuffer(_read_exactly(stream, count * storage.dtype.itemsize), storage.dtype)


def _read_exactly(stream, size):
    data = stream.read(size)
    if len(data) != size:
        raise FormatError("the stream ends inside a storage (truncated?)")
    return data


def _view(values, tensor, name):
    """The tensor's values: a contiguous (C-order) slice of its storage."""
    shape = tensor.shape
    contiguous = tuple(int(np.prod(shape[i + 1:])) for i in range(len(shape)))
    size = int(np.prod(shape))
    if size and tuple(s for s, n in zip(tensor.stride, shape) if n > 1) != tuple(
            c for c, n in zip(contiguous, shape) if n > 1):
        raise FormatError(f"tensor {name} is not contiguous")
    if tensor.offset + size > values.size:
        raise FormatError(f"tensor {name} reaches past the end of its storage")
    return values[tensor.offset:tensor.offset + size].reshape(shape).copy()


def read_tensors_from_bytes(data):
    """`read_tensors` of an in-memory stream; refuses trailing bytes."""
    stream = io.BytesIO(data)
    tensors = read_tensors(stream)
    if stream.read(1):
        raise FormatError("unexpected bytes after the last storage")
    return tensors
