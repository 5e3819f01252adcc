"""The light graphs: StyleModel's two networks as ONNX graphs, generated from the one
Keras model (tf2onnx, which needs the `tensorflow` extra).

The built-in weights carry their graphs in the package (with int8 weights inside: see
`weights.graph_weights`); those of other weights are built once by `build_graphs` and
cached under `<cache home>/graphs/<key>`, where the key is the sha256 of the weights,
their config and the converter versions (`python -m arbitrary_style.backends build`
builds them ahead of time).

Two transformer graphs, both taking content [B,H,W,3] of any size (mirror-padded to a
multiple of 4 and cropped back inside), style vectors [B,100] and norm offsets [B,M] (a
tuned style's per-layer parameters, zeros for a vector alone: 26 additions of [B,C]
vectors, nothing at image size):
- `transfer`: the plain network, NCHW inside (`StyleTransferNetwork.light_graph_layout`),
  each conditional instance norm one ONNX InstanceNormalization
  (`fuse_instance_norm_scale_shift`), the final conv on pixel blocks;
- `moments`: the network that also takes instance-norm moments [B,M] and their weight
  [B,1] and returns the image's own moments (`StyleTransferNetwork.transfer_with_moments`,
  for tiles); loaded only when asked for, so the plain path does not pay for it.
"""

import contextlib
import hashlib
import json
import os
import pathlib
import sys

from arbitrary_style import atomic, quiet_tensorflow
from arbitrary_style.errors import UserError
from arbitrary_style.weights import store

OPSET = 17
GRAPH_FILES = {"predict": "predict.onnx", "transfer": "transfer.onnx",
               "moments": "transfer_moments.onnx"}
# Bumped when the graphs' inputs or outputs change, so older caches are rebuilt
# (2: the transfer graph takes and returns instance-norm moments; 3: its final conv is
# computed on pixel blocks; 4: a plain transfer graph, NCHW with InstanceNormalization,
# beside the moments graph, both padding to a multiple of 4 themselves; 5: both take norm
# offsets).
GRAPH_VERSION = 5


def graph_description():
    """What the graphs depend on besides the weights: opset, graph version, converters."""
    import importlib.metadata  # Only for weights without their own graphs (11 ms).

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


def write_graphs(model, directory, light=True, int8_weights=None):
    """Writes `model`'s predictor and transformer graphs (GRAPH_FILES) into `directory`.
    `light`: the transformer graphs as the module docstring says (False: the plain tf2onnx
    conversion of the Keras layers, NHWC, for benchmarks). `int8_weights` ({name:
    QuantizedTensor}, the quantized tensors `model`'s weights were dequantized from) are
    stored as integers in the graphs (`graph_weights.quantize_initializers`): the same
    results, a quarter of the bytes."""
    import logging

    import onnx
    import tf2onnx

    from arbitrary_style import signatures
    from arbitrary_style.weights.graph_weights import quantize_initializers

    if not os.environ.get(quiet_tensorflow.VERBOSE_VARIABLE):
        logging.getLogger("tf2onnx").setLevel(logging.WARNING)
    image = signatures.image_spec(name="image")
    vector = signatures.vector_spec(name="style_vector")
    offsets = signatures.offsets_spec(model, name="norm_offsets")
    transformer = model.transformer
    light_context = transformer.blocked_output_conv if light else contextlib.nullcontext
    functions = {  # name: (function, the layout it is traced in)
        "predict": (signatures.predict_function(model, image), contextlib.nullcontext),
        "transfer": (signatures.transfer_function(model, image, vector, offsets=offsets),
                     transformer.light_graph_layout if light else contextlib.nullcontext),
        "moments": (signatures.transfer_with_moments_function(
            model, image, vector, names=("moments", "moments_weight"), offsets=offsets),
            contextlib.nullcontext),
    }
    with light_context():
        for name, (function, layout) in functions.items():
            with layout():
                graph, _ = tf2onnx.convert.from_function(
                    function, input_signature=function.input_signature, opset=OPSET)
            if light and name == "transfer":
                simplify_light_graph(graph)
            if int8_weights:
                quantize_initializers(graph, int8_weights)
            onnx.save(graph, str(pathlib.Path(directory) / GRAPH_FILES[name]))


def simplify_light_graph(model):
    """In place, on the plain transfer graph traced in `light_graph_layout`: the rewrites
    below, each replacing what tf2onnx makes of a traced pattern by the one ONNX op that
    computes the same values (BUILD_NOTES, issue 26). Returns {rewrite: count}."""
    counts = {"instance norms": fuse_instance_norm_scale_shift(model),
              "edge pads": edge_pads_from_concats(model),
              "depth-to-space trims": drop_depth_to_space_trims(model)}
    graph = model.graph
    kept = _topological(list(graph.node), graph)
    del graph.node[:]
    graph.node.extend(kept)
    _drop_unused(graph)
    return counts


def _uses(graph):
    """({value: [consumer nodes]}, {value: producer node}, {initializer name: array})."""
    from onnx import numpy_helper

    consumers, producers = {}, {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
        producers.update((name, node) for name in node.output)
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    return consumers, producers, constants


def _rename_uses(graph, old, new):
    for node in graph.node:
        for index, name in enumerate(node.input):
            if name == old:
                node.input[index] = new


def edge_pads_from_concats(model):
    """In place: `Concat([x[first row], x, x[last row]], axis)` (either end optional; how
    `layers.edge_pad` is traced, as tf.pad has no edge mode) becomes `Pad(x, mode=edge)`,
    and an edge Pad of an edge Pad's output (rows, then columns) one Pad. Returns how many
    Concats it replaced."""
    from onnx import helper

    graph = model.graph
    _, producers, constants = _uses(graph)
    replaced = 0
    for node in list(graph.node):
        if node.op_type != "Concat" or len(node.input) < 2:
            continue
        axis = helper.get_attribute_value(node.attribute[0])
        ends = [_edge_slice(producers.get(name), constants, axis) for name in node.input]
        middle = [name for name, end in zip(node.input, ends, strict=True) if end is None]
        if len(middle) != 1 or axis < 0:
            continue
        (source,) = middle
        before = node.input[0] != source
        after = node.input[-1] != source
        if (before and ends[0] != ("first", source)) or (after and ends[-1] != ("last", source)) \
                or len(node.input) != 1 + before + after:
            continue
        rank = 4
        pads = [0] * (2 * rank)
        pads[axis], pads[rank + axis] = int(before), int(after)
        name = f"{node.name}/edge_pads"
        graph.initializer.append(helper.make_tensor(name, 7, [2 * rank], pads))
        node.op_type = "Pad"
        del node.attribute[:]
        node.attribute.append(helper.make_attribute("mode", "edge"))
        del node.input[:]
        node.input.extend([source, name])
        replaced += 1
    _merge_edge_pads(graph)
    return replaced


def _edge_slice(node, constants, axis):
    """("first" | "last", sliced value) when `node` slices the first or last index of
    `axis` (and nothing else), else None."""
    if node is None or node.op_type != "Slice" or len(node.input) not in (4, 5):
        return None
    try:
        starts, ends, axes = (constants[name].tolist() for name in node.input[1:4])
    except KeyError:
        return None
    if len(node.input) == 5 and constants.get(node.input[4], [0]).tolist() != [1]:
        return None
    whole = 2**31 - 1
    ranges = dict(zip(axes, zip(starts, ends, strict=True), strict=True))
    sliced = ranges.pop(axis, None)
    if any(start != 0 or end < whole for start, end in ranges.values()):
        return None  # Another axis is cut.
    if sliced == (0, 1):
        return "first", node.input[0]
    if sliced is not None and sliced[0] == -1 and sliced[1] >= whole:
        return "last", node.input[0]
    return None


def _merge_edge_pads(graph):
    """Pad(edge) of the only use of a Pad(edge)'s output -> one Pad(edge)."""
    from onnx import helper

    _drop_unused(graph)  # The slices the Pads replaced.
    consumers, producers, constants = _uses(graph)
    for node in list(graph.node):
        inner = producers.get(node.input[0]) if node.op_type == "Pad" else None
        if not (_is_edge_pad(node) and inner is not None and _is_edge_pad(inner)
                and len(consumers[inner.output[0]]) == 1):
            continue
        pads = constants[node.input[1]] + constants[inner.input[1]]
        name = f"{node.name}/merged_pads"
        graph.initializer.append(helper.make_tensor(name, 7, [len(pads)], pads.tolist()))
        node.input[0], node.input[1] = inner.input[0], name
        graph.node.remove(inner)


def _is_edge_pad(node):
    from onnx import helper

    return node.op_type == "Pad" and any(
        a.name == "mode" and helper.get_attribute_value(a) == b"edge" for a in node.attribute)


def drop_depth_to_space_trims(model):
    """In place: the Slice and Pad that tf2onnx appends to a ConvTranspose with a traced
    output shape are dropped where the ConvTranspose's output has that shape already: no
    padding, stride equal to the kernel (`layers.depth_to_space`: exactly b times the
    input). Returns how many it dropped."""
    from onnx import helper

    graph = model.graph
    consumers, _, _ = _uses(graph)
    outputs = {value.name for value in graph.output}
    dropped = 0
    for node in list(graph.node):
        if node.op_type != "ConvTranspose":
            continue
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if (attributes.get("strides") != attributes.get("kernel_shape")
                or set(attributes) - {"strides", "kernel_shape", "dilations"}
                or any(d != 1 for d in attributes.get("dilations", [1]))):
            continue
        slices = [user for user in consumers.get(node.output[0], [])
                  if user.op_type == "Slice"]
        if len(slices) != 1:
            continue
        pads = consumers.get(slices[0].output[0], [])
        if len(pads) != 1 or pads[0].op_type != "Pad" or pads[0].output[0] in outputs:
            continue
        _rename_uses(graph, pads[0].output[0], node.output[0])
        dropped += 1
    return dropped


def fuse_instance_norm_scale_shift(model):
    """In place: each `InstanceNormalization(x, ones, zeros)` followed by a per-channel
    `Mul` and `Add` only (what tf2onnx makes of `ConditionalInstanceNorm.channels_first`)
    becomes one InstanceNormalization with that scale and shift (flattened to [C]); nodes
    left without consumers are dropped. Returns how many it fused."""
    from onnx import helper

    graph = model.graph
    consumers, producers = {}, {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
        producers.update((name, node) for name in node.output)

    def only_consumer(name, op_type):
        users = consumers.get(name, [])
        return users[0] if len(users) == 1 and users[0].op_type == op_type else None

    removed, fused = set(), 0
    for node in list(graph.node):
        if node.op_type != "InstanceNormalization" or any(
                getattr(producers.get(name), "op_type", None) != "ConstantOfShape"
                for name in node.input[1:]):
            continue
        mul = only_consumer(node.output[0], "Mul")
        add = mul and only_consumer(mul.output[0], "Add")
        if not add:
            continue
        scale = next(name for name in mul.input if name != node.output[0])
        shift = next(name for name in add.input if name != mul.output[0])
        flat = f"{node.name}/flat_shape"
        graph.initializer.append(helper.make_tensor(flat, 7, [1], [-1]))  # INT64
        for index, name in ((1, scale), (2, shift)):
            reshape = helper.make_node("Reshape", [name, flat], [f"{node.name}/param{index}"],
                                       name=f"{node.name}/Reshape{index}")
            graph.node.append(reshape)
            node.input[index] = reshape.output[0]
        node.output[0] = add.output[0]
        removed.update((mul.name, add.name))
        fused += 1
    kept = [node for node in graph.node if node.name not in removed]
    del graph.node[:]
    graph.node.extend(_topological(kept, graph))
    _drop_unused(graph)
    return fused


def _topological(nodes, graph):
    """`nodes` ordered so that each comes after the producers of its inputs."""
    available = {value.name for value in graph.input} | {i.name for i in graph.initializer}
    available.add("")
    ordered, pending = [], list(nodes)
    while pending:
        waiting = []
        for node in pending:
            if all(name in available for name in node.input):
                ordered.append(node)
                available.update(node.output)
            else:
                waiting.append(node)
        if len(waiting) == len(pending):
            raise ValueError("the graph has a cycle or a missing input")
        pending = waiting
    return ordered


def _drop_unused(graph):
    """Removes nodes and initializers that no output depends on."""
    needed = {value.name for value in graph.output}
    kept = []
    for node in reversed(graph.node):
        if any(name in needed for name in node.output):
            kept.append(node)
            needed.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    unused = [init for init in graph.initializer if init.name not in needed]
    for init in unused:
        graph.initializer.remove(init)

