"""Int8 weights inside generated ONNX graphs: each float initializer that is exactly a
quantized tensor (`QuantizedTensor`, up to a transpose and size-1 axes) is stored as its
integer values and turned back into floats by a `DequantizeLinear` node.

onnxruntime folds those nodes into the same float initializers when it loads the graph
(`DequantizeLinear` computes `(values - zero_point) * scale` in float32, which equals
`quantized.dequantize`'s float64 product rounded once), so the graph computes bit for bit
what the float graph computes, in about a quarter of the bytes. Needs the `onnx` package.
"""

import collections
import itertools

import numpy as np

from arbitrary_style.weights.quantized import QuantizedTensor, to_float

DEQUANTIZED_SUFFIX = "_dequantized"


def quantize_initializers(model, tensors):
    """Replaces in `model` (an onnx ModelProto, changed in place) every float32 initializer
    equal to the dequantized form of one of `tensors` ({name: QuantizedTensor or array});
    returns the number replaced."""
    from onnx import helper, numpy_helper

    candidates = collections.defaultdict(list)
    for tensor in tensors.values():
        if isinstance(tensor, QuantizedTensor):
            candidates[_sorted_bytes(to_float(tensor))].append(tensor)
    graph, kept, replaced = model.graph, [], 0
    for initializer in graph.initializer:
        array = numpy_helper.to_array(initializer)
        matches = candidates.get(_sorted_bytes(array), ()) if array.dtype == np.float32 else ()
        stored = next((arranged for tensor in matches
                       if (arranged := _arrange(tensor, array)) is not None), None)
        if stored is None:
            kept.append(initializer)
            continue
        values, scale, zero_point, axis = stored
        name = initializer.name
        parts = [numpy_helper.from_array(values, name + "_values"),
                 numpy_helper.from_array(scale, name + "_scale"),
                 numpy_helper.from_array(zero_point, name + "_zero_point")]
        kept.extend(parts)
        attributes = {} if axis is None else {"axis": axis}
        graph.node.insert(0, helper.make_node("DequantizeLinear", [p.name for p in parts],
                                              [name], name=name + DEQUANTIZED_SUFFIX,
                                              **attributes))
        replaced += 1
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return replaced


def _sorted_bytes(array):
    return np.sort(array, axis=None).tobytes()


def _arrange(tensor, target):
    """(values, scale, zero_point, axis) laid out like `target`, whose values `tensor`
    dequantizes to exactly; None when no transpose of its non-unit axes gives `target`."""
    floats = to_float(tensor)
    kept = [axis for axis, size in enumerate(floats.shape) if size != 1]
    squeezed = floats.reshape([floats.shape[a] for a in kept])
    target_squeezed = target.reshape([size for size in target.shape if size != 1])
    if squeezed.ndim != target_squeezed.ndim:
        return None
    for order in itertools.permutations(range(squeezed.ndim)):
        if not np.array_equal(np.transpose(squeezed, order), target_squeezed):
            continue
        values = np.transpose(tensor.values.reshape(squeezed.shape), order).reshape(target.shape)
        if tensor.scale.size == 1:
            return (values, tensor.scale.reshape(()), tensor.zero_point.reshape(()), None)
        channel = order.index(kept.index(tensor.axis))
        axis = [a for a, size in enumerate(target.shape) if size != 1][channel]
        return values, tensor.scale, tensor.zero_point.astype(values.dtype), axis
    return None
