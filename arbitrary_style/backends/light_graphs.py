"""The light graphs: StyleModel's two networks as ONNX graphs, generated from the one
Keras model (tf2onnx, which needs the `tensorflow` extra).

The built-in weights carry their graphs in the package (with int8 weights inside: see
`weights.graph_weights`); those of other weights are built once by `build_graphs` and
cached under `<cache home>/graphs/<key>`, where the key is the sha256 of the weights,
their config and the converter versions (`python -m arbitrary_style.backends build`
builds them ahead of time).

The transformer graph takes content of any size, instance-norm moments [B,M] and their
weight [B,1], and returns the image's own moments as well (see
`StyleTransferNetwork.transfer_with_moments`).
"""

import contextlib
import hashlib
import importlib.metadata
import json
import os
import pathlib
import sys

from arbitrary_style import atomic, quiet_tensorflow
from arbitrary_style.errors import UserError
from arbitrary_style.weights import store

OPSET = 17
GRAPH_FILES = {"predict": "predict.onnx", "transfer": "transfer.onnx"}
# Bumped when the graphs' inputs or outputs change, so older caches are rebuilt
# (2: the transfer graph takes and returns instance-norm moments; 3: its final conv is
# computed on pixel blocks).
GRAPH_VERSION = 3


def graph_description():
    """What the graphs depend on besides the weights: opset, graph version, converters."""
    try:
        converter = {name: importlib.metadata.version(name)
                     for name in ("tf2onnx", "tensorflow", "keras")}
    except importlib.metadata.PackageNotFoundError as error:
        raise UserError(f"weights other than the built-in ones need their light graphs built "
                        f"once, which needs the 'tensorflow' extra ({error.name} is not "
                        "installed): pip install 'arbitrary_style[tensorflow]'") from None
    return {"opset": OPSET, "graphs": GRAPH_VERSION, "converter": converter}


def has_own_graphs(weights_dir):
    """True for a weights directory that carries its graphs (the built-in weights)."""
    return all((pathlib.Path(weights_dir) / name).is_file() for name in GRAPH_FILES.values())


def graph_key(weights_dir):
    """sha256 of weights.npz, the network config (backbone, alpha) and `graph_description`."""
    weights_dir = pathlib.Path(weights_dir)
    described = graph_description()
    _, config = store.read_config(weights_dir)
    weights_path = weights_dir / store.WEIGHTS_FILE
    store.check_weights_file(weights_path)  # Never hash a FIFO or /dev/zero.
    try:
        digest = hashlib.sha256()
        with open(weights_path, "rb") as weights:
            for chunk in iter(lambda: weights.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as error:
        raise UserError(f"{weights_dir} is not a readable weights directory: {error}") from None
    described.update(backbone=config.get("backbone"), alpha=config.get("alpha"))
    digest.update(json.dumps(described, sort_keys=True).encode())
    return digest.hexdigest()


def graphs_dir(weights_dir):
    """Where the graphs of `weights_dir` are cached (whether or not they exist)."""
    return store.home() / "graphs" / graph_key(weights_dir)


def built_graphs_dir(weights_dir):
    """The directory holding the graphs of `weights_dir` (its own, or cached), or None when
    they are not built."""
    directory = (pathlib.Path(weights_dir) if has_own_graphs(weights_dir)
                 else graphs_dir(weights_dir))
    return directory if has_own_graphs(directory) else None


def build_graphs(weights_dir, model=None):
    """Converts the weights' StyleModel (`model`, if already loaded) to ONNX, once (cached);
    returns the graph directory (the weights directory itself if it carries its graphs)."""
    if has_own_graphs(weights_dir):
        return pathlib.Path(weights_dir)
    target = graphs_dir(weights_dir)
    if has_own_graphs(target):
        return target
    model = model or store.load_model(weights_dir)  # Bad weights fail before any message.
    print(f"building the light inference graphs (once, cached in {target})", file=sys.stderr)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic.atomic_directory(target) as staging:
            write_graphs(model, staging)
    except OSError as error:
        raise UserError(f"cannot write the light graphs to {target}: "
                        f"{error.strerror or error}") from None
    return target


def write_graphs(model, directory, blocked_output_conv=True, int8_weights=None):
    """Writes `model`'s predictor and transformer as ONNX graphs into `directory`; with
    `blocked_output_conv` the final conv computes on pixel blocks (the light graphs; False
    gives the plain conversion, for benchmarks). `int8_weights` ({name: QuantizedTensor},
    the quantized tensors `model`'s weights were dequantized from) are stored as integers
    in the graphs (`graph_weights.quantize_initializers`): the same results, a quarter of
    the bytes."""
    import logging

    import onnx
    import tf2onnx

    from arbitrary_style import signatures
    from arbitrary_style.weights.graph_weights import quantize_initializers

    if not os.environ.get(quiet_tensorflow.VERBOSE_VARIABLE):
        logging.getLogger("tf2onnx").setLevel(logging.WARNING)
    image = signatures.image_spec(name="image")
    functions = {
        "predict": signatures.predict_function(model, image),
        "transfer": signatures.transfer_with_moments_function(
            model, image, signatures.vector_spec(name="style_vector"),
            names=("moments", "moments_weight")),
    }
    blocked = (model.transformer.blocked_output_conv() if blocked_output_conv
               else contextlib.nullcontext())
    with blocked:
        for name, function in functions.items():
            graph, _ = tf2onnx.convert.from_function(
                function, input_signature=function.input_signature, opset=OPSET)
            if int8_weights:
                quantize_initializers(graph, int8_weights)
            onnx.save(graph, str(pathlib.Path(directory) / GRAPH_FILES[name]))
