"""The light inference path: StyleModel's networks as ONNX graphs run by onnxruntime.

Importing this module does not import TensorFlow (about 3.8 s and 560 MiB saved). The
graphs are generated from the one Keras model by `write_graphs` (tf2onnx, which needs the
`tensorflow` extra). The built-in weights carry theirs in the package (with int8 weights
inside: see `weights.graph_weights`); those of other weights are built once by
`build_graphs` and cached under `<cache home>/graphs/<key>`, where the key is the sha256
of the weights, their config and the converter versions:

    python -m arbitrary_style.light build --weights magenta-mobile
    model = LightModel.load(weights_dir)      # None until the graphs are built
    stylized = model.stylize(content, model.predict_style(style))

The transformer graph takes any content size that is a multiple of 4: `stylize` mirror-pads
the content to one and crops the result, as StyleTransferNetwork does inside its graph. It
also takes instance-norm moments [B,M] and their weight [B,1] and returns the image's own
moments (`stylize_with_moments`; `stylize` gives weight 0, which is the plain network).
"""

import contextlib
import hashlib
import importlib.metadata
import json
import os
import pathlib
import sys

import numpy as np

from arbitrary_style import atomic, quiet_tensorflow
from arbitrary_style.errors import UserError
from arbitrary_style.image_io import center_crop_aspect, resize_short_side, transfer_luminance
from arbitrary_style.model_config import (
    DEFAULT_STYLE_SIZE, SIZE_MULTIPLE, STYLE_VECTOR_SIZE, moments_inputs, transfer_inputs)
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


def build_graphs(weights_dir, model=None):
    """Converts the weights' StyleModel (`model`, if already loaded) to ONNX, once (cached);
    returns the graph directory (the weights directory itself if it carries its graphs)."""
    if has_own_graphs(weights_dir):
        return pathlib.Path(weights_dir)
    target = graphs_dir(weights_dir)
    if all((target / name).is_file() for name in GRAPH_FILES.values()):
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
    import tensorflow as tf
    import tf2onnx

    from arbitrary_style.weights.graph_weights import quantize_initializers

    if not os.environ.get(quiet_tensorflow.VERBOSE_VARIABLE):
        logging.getLogger("tf2onnx").setLevel(logging.WARNING)
    image_spec = tf.TensorSpec([None, None, None, 3], tf.float32, name="image")
    vector_spec = tf.TensorSpec([None, STYLE_VECTOR_SIZE], tf.float32, name="style_vector")
    moments_specs = [tf.TensorSpec([None, model.moments_size], tf.float32, name="moments"),
                     tf.TensorSpec([None, 1], tf.float32, name="moments_weight")]
    functions = {
        "predict": (tf.function(lambda image: model.predictor(image, training=False)),
                    [image_spec]),
        "transfer": (tf.function(model.transformer.transfer_with_moments),
                     [image_spec, vector_spec, *moments_specs]),
    }
    blocked = (model.transformer.blocked_output_conv() if blocked_output_conv
               else contextlib.nullcontext())
    with blocked:
        for name, (function, signature) in functions.items():
            graph, _ = tf2onnx.convert.from_function(function, input_signature=signature,
                                                     opset=OPSET)
            if int8_weights:
                quantize_initializers(graph, int8_weights)
            onnx.save(graph, str(pathlib.Path(directory) / GRAPH_FILES[name]))


class LightModel:
    """StyleModel's inference API (same arrays, same results within 1e-3) on onnxruntime."""

    backend = "light"  # The --backend value that loads it.

    def __init__(self, directory, config, num_threads=None):
        import onnxruntime

        self.config = config
        threads = num_threads or len(os.sched_getaffinity(0))
        self._sessions = {
            name: onnxruntime.InferenceSession(str(pathlib.Path(directory) / file),
                                               self.session_options(name, threads),
                                               providers=["CPUExecutionProvider"])
            for name, file in GRAPH_FILES.items()}

    @staticmethod
    def session_options(name, threads):
        """onnxruntime options of the `name` graph. The predictor runs once per style
        image (about 3-6 ms at 256 px), so it skips the NCHWc layout rewrite (a second,
        reordered copy of its 9 MB of weights) and keeps no memory arena of its own: about
        25 MiB less peak memory for one image (see BUILD_NOTES, issue 9). Both graphs fold
        the DequantizeLinear of int8 weights into float weights at load, and do not treat
        them as quantized arithmetic: the built-in graphs then compute bit for bit what
        their float conversion computes."""
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.add_session_config_entry("session.disable_quant_qdq", "1")
        if name == "predict":
            options.graph_optimization_level = (
                onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED)
            options.enable_cpu_mem_arena = False
        return options

    @classmethod
    def load(cls, weights_dir, num_threads=None):
        """The model from the graphs `weights_dir` carries, else from its cached graphs; None
        when they are not built."""
        directory = (pathlib.Path(weights_dir) if has_own_graphs(weights_dir)
                     else graphs_dir(weights_dir))
        if not all((directory / name).is_file() for name in GRAPH_FILES.values()):
            return None
        return cls(directory, store.read_config(weights_dir)[0], num_threads)

    @classmethod
    def build(cls, weights_dir, model=None, num_threads=None):
        """Builds the graphs of `weights_dir` (once; imports TensorFlow) from its StyleModel
        (`model`, if already loaded) and loads them."""
        return cls(build_graphs(weights_dir, model), store.read_config(weights_dir)[0],
                   num_threads)

    def _run(self, name, **inputs):
        return self._sessions[name].run(None, inputs)

    @property
    def moments_size(self):
        """M, the length of one image's instance-norm moments (see layers.MomentsMix)."""
        return self._sessions["transfer"].get_inputs()[2].shape[1]

    def predict_style(self, style_image, size=DEFAULT_STYLE_SIZE):
        """The style vector [100] of [H,W,3] ([B,100] of [B,H,W,3]); see StyleModel."""
        image = np.asarray(style_image, np.float32)
        if size:
            image = resize_short_side(center_crop_aspect(image), size)
        batch = image if image.ndim == 4 else image[None]
        vectors = self._run("predict", image=np.ascontiguousarray(batch, np.float32))[0]
        return vectors if image.ndim == 4 else vectors[0]

    def stylize(self, content_image, style_vector, *, preserve_colors=False):
        """Stylizes content [H,W,3] (or [B,H,W,3]) with a style vector; same size out."""
        return self.stylize_with_moments(content_image, style_vector,
                                         preserve_colors=preserve_colors)[0]

    def stylize_with_moments(self, content_image, style_vector, moments=None,
                             moments_weight=1.0, *, preserve_colors=False):
        """(stylized, own moments [M] or [B,M]); see StyleModel.stylize_with_moments."""
        content, batch, vectors = transfer_inputs(content_image, style_vector)
        given, weight = moments_inputs(moments, moments_weight, len(batch), self.moments_size)
        height, width = batch.shape[1:3]
        padded = np.pad(batch, [(0, 0), (0, -height % SIZE_MULTIPLE),
                                (0, -width % SIZE_MULTIPLE), (0, 0)], mode="reflect")
        stylized, own = self._run("transfer", image=padded, style_vector=vectors,
                                  moments=given, moments_weight=weight)
        stylized = stylized[:, :height, :width]
        if preserve_colors:
            stylized = transfer_luminance(batch, stylized)
        return (stylized, own) if content.ndim == 4 else (stylized[0], own[0])


def main(argv):
    """python -m arbitrary_style.light build [--weights NAME_OR_DIR]"""
    if argv[1:] != ["build"]:
        raise UserError("give the command: build (see --help)")
    print(build_graphs(store.resolve_weights(FLAGS.weights)))
    return 0


if __name__ == "__main__":
    from absl import flags

    from arbitrary_style import cli

    flags.DEFINE_string("weights", None, "A cache name or a weights directory (default: the "
                        "default weights).")
    FLAGS = flags.FLAGS
    cli.run(main, takes_arguments=True)
