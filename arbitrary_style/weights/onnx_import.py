"""Reads Magenta-named weights out of ONNX graphs (e.g. tf2onnx conversions of the TFLite models).

tf2onnx keeps TensorFlow's names on the `DequantizeLinear` nodes that turn each int8
weight back into floats (`<magenta name>_dequant`), while the initializers themselves
may be shared under other names (equal constants are deduplicated), so the node
outputs, not the initializer names, tell which variable a tensor is.
"""

import numpy as np

from arbitrary_style.errors import UserError
from arbitrary_style.weights.conventions import is_variable_name
from arbitrary_style.weights.quantized import ONNX_DEFAULT_AXIS, QuantizedTensor, to_float

LAYOUT = "OIHW"
_DEQUANT_SUFFIX = "_dequant"


def read_onnx_weights(path):
    """Returns {Magenta variable name: float32 array} for the weights in an ONNX file.

    Handles int8/int32 QDQ weights (per-tensor or per-channel) and plain float
    initializers named like TF variables. Activation quantization is ignored.
    """
    return {name: to_float(tensor) for name, tensor in read_onnx_tensors(path).items()}


def read_onnx_tensors(path):
    """Like `read_onnx_weights`, with each QDQ weight kept as its QuantizedTensor."""
    import onnx
    from onnx import numpy_helper

    try:
        graph = onnx.load(str(path)).graph
    except Exception as error:  # onnx raises DecodeError, OSError, ... for bad files.
        raise UserError(f"cannot read ONNX file {path}: {error}".splitlines()[0]) from None
    initializers = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    tensors = {}
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in initializers:
            continue
        name = node.output[0].removesuffix(_DEQUANT_SUFFIX)
        if not is_variable_name(name):
            continue
        values = [initializers.get(i) for i in node.input] + [None]
        q, scale, zero_point = values[0], values[1], values[2]
        if zero_point is None:
            zero_point = np.zeros_like(scale, dtype=np.int32)
        axis = next((a.i for a in node.attribute if a.name == "axis"), ONNX_DEFAULT_AXIS)
        tensors[name] = QuantizedTensor(q, scale, zero_point, axis)
    for name, array in initializers.items():
        if array.dtype == np.float32 and is_variable_name(name):
            tensors.setdefault(name, array)
    if not tensors:
        raise UserError(f"{path} holds no Magenta-named weights")
    return tensors
