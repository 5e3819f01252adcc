"""Quantized tensors (QDQ form): integer values with a per-tensor or per-channel scale
and zero point, as ONNX's `DequantizeLinear` and TFLite store int8 weights.

Light on purpose (numpy only): the built-in weights are dequantized with it at load.
"""

import dataclasses

import numpy as np

ONNX_DEFAULT_AXIS = 1  # DequantizeLinear's `axis` when the attribute is absent.


@dataclasses.dataclass(frozen=True)
class QuantizedTensor:
    """`values` (int8/int32) that `dequantize` turns into `(values - zero_point) * scale`.

    Attributes:
      values: the integer tensor.
      scale: float32, a scalar (per tensor) or a vector along `axis` (per channel).
      zero_point: same shape as `scale`, the values' dtype.
      axis: the channel axis of a per-channel scale.
    """

    values: np.ndarray
    scale: np.ndarray
    zero_point: np.ndarray
    axis: int = ONNX_DEFAULT_AXIS


def dequantize(tensor):
    """The float32 array a QuantizedTensor stands for (computed in float64, then rounded)."""
    q = tensor.values.astype(np.float64)
    scale, zero_point = tensor.scale, tensor.zero_point.astype(np.float64)
    if scale.ndim == 1 and q.ndim > 1:
        shape = [1] * q.ndim
        shape[tensor.axis] = -1
        scale, zero_point = scale.reshape(shape), zero_point.reshape(shape)
    return ((q - zero_point) * scale).astype(np.float32)


def to_float(tensor):
    """A QuantizedTensor dequantized; a float array as it is."""
    return dequantize(tensor) if isinstance(tensor, QuantizedTensor) else tensor
