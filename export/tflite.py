"""Export weights to TensorFlow Lite: a style predictor and a style transfer model.

    python -m export.tflite --weights magenta-mobile --output_dir tflite/ \\
        --calibration_images photos/ --calibration_styles 'styles/*.jpg'

For each quantization Q (`--quantization`, default float16,int8) it writes two files,
as Magenta's `arbitrary_image_stylization_convert_tflite.py` and the TF-Hub TFLite
models do:

- `predict_Q.tflite`: `style_image` [1,S,S,3] float32 in [0,1] -> `style_vector` [1,1,1,100]
- `transfer_Q.tflite`: `content_image` [1,C,C,3] in [0,1] and `style_vector` [1,1,1,100]
  -> `stylized_image` [1,C,C,3] in [0,1]

S = `--style_size` (256) and C = `--content_size` (384, a multiple of 4) are fixed:
resize images to them before running. The style vector is [1,1,1,100], the shape of
Magenta's 1x1-conv bottleneck, so the files can replace the published ones and the
predictor's output feeds the transfer model as it is.

Quantizations:
- float32: none.
- float16: weights stored as float16 (half the size); CPUs compute in float32.
- int8: post-training quantization of weights and activations. The predictor is
  calibrated on the style images (`--calibration_styles`) and the content images
  (`--calibration_images`); the transfer model on each content image with many style
  vectors: up to 8 of the styles' vectors in turn, the content's own vector, and 16 random
  vectors drawn around the styles' per-dimension mean with 1.25x their spread (the
  activations' ranges depend on the vector; calibrating with contents' vectors alone left a
  strong colour cast on unseen styles). Inputs and outputs stay float32 (the model
  quantizes and dequantizes at its edges); an op without an int8 kernel would fall
  back to a float TFLite builtin (none does in these networks).
  In the transfer model every convolution (and the style vector's dense layers) is int8,
  but the conditional instance norms' arithmetic (MEAN, SQUARED_DIFFERENCE, RSQRT, MUL,
  SUB, ADD: the per-image statistics, scale and shift, and the residual adds and ReLUs
  fused into them) stays float32, with (de)quantize ops around each convolution
  (`TRANSFER_FLOAT_OPS`, TFLite's QuantizationDebugger selective quantization). TFLite's
  quantization debugger showed no single layer carrying the error (rounding-level
  RMSE/scale ~0.29 nearly everywhere): it piles up through the 13 norms, whose statistics
  and shifts depend on the style. Keeping them float took the worst held-out style
  (bricks) at 384 px from a mean abs difference of 0.056 to 0.041 vs float, for 1.3% more
  file size and no loss of speed (XNNPACK runs the float norms faster than int8 ones).

Each file carries TFLite metadata (`export/tflite_metadata.py`: tensor names and
descriptions, RGB images normalized from 0..255 by mean 0 / std 255, in subgraph input
order), for Android Studio's ML Model Binding and the TFLite Support library.

Every file is written atomically; a failed export removes what it wrote (and the
output directory, if it created it).
"""

import json
import pathlib
import shutil
import warnings

import numpy as np
import tensorflow as tf
from absl import flags

import arbitrary_style
from arbitrary_style import atomic, cli, common_flags, image_io, quiet_tensorflow, signatures
from arbitrary_style.errors import UserError
from arbitrary_style.image_io import resize_short_side
from arbitrary_style.model_config import MIN_CONTENT_SIDE, SIZE_MULTIPLE, STYLE_VECTOR_SIZE
from arbitrary_style.weights import store
from export import tflite_metadata

QUANTIZATIONS = ("float32", "float16", "int8")
DEFAULT_QUANTIZATIONS = ("float16", "int8")
VECTOR_SHAPE = (1, 1, 1, STYLE_VECTOR_SIZE)
# TF 2.21 warns that tf.lite.Interpreter moves to the ai_edge_litert package; it still works.
INTERPRETER_DEPRECATION = r"\s*Warning: tf.lite.Interpreter is deprecated"

# The metadata of each model's tensors: {name: (description, is an image)}.
TENSORS = {
    "predict": ({"style_image": ("Style image: RGB, float32 in [0, 1], [1, S, S, 3].", True)},
                {"style_vector": ("Style vector [1, 1, 1, 100] for the transfer model.",
                                  False)}),
    "transfer": ({"content_image": ("Content image: RGB, float32 in [0, 1], [1, C, C, 3].",
                                    True),
                  "style_vector": ("Style vector [1, 1, 1, 100] from the predict model (or a "
                                   "blend of several).", False)},
                 {"stylized_image": ("Stylized content image: RGB, float32 in [0, 1].", True)}),
}
DESCRIPTIONS = {"predict": "Arbitrary style transfer: predicts a style image's style vector.",
                "transfer": "Arbitrary style transfer: renders a content image in the style "
                            "that a style vector describes."}

FLAGS = flags.FLAGS


def parse_quantizations(values):
    """['float16,int8', 'float32'] -> ['float16', 'int8', 'float32'] (validated, no repeats)."""
    names = [n.strip() for value in values for n in value.split(",") if n.strip()]
    unknown = sorted(set(names) - set(QUANTIZATIONS))
    if unknown or not names:
        raise UserError(f"unknown quantization {', '.join(unknown) or '(none given)'}; "
                        f"choose from {', '.join(QUANTIZATIONS)}")
    return list(dict.fromkeys(names))


def check_arguments(output_dir, quantizations, style_size, content_size, num_calibration_images,
                    num_calibration_styles):
    """The validated list of quantizations; UserError for anything export_tflite refuses."""
    if pathlib.Path(output_dir).exists() and not pathlib.Path(output_dir).is_dir():
        raise UserError(f"--output_dir {output_dir} exists and is not a directory")
    quantizations = parse_quantizations(quantizations)
    if style_size < 1:
        raise UserError(f"--style_size must be positive, got {style_size}")
    if content_size < MIN_CONTENT_SIDE or content_size % SIZE_MULTIPLE:
        raise UserError(f"--content_size must be a multiple of {SIZE_MULTIPLE} and at least "
                        f"{MIN_CONTENT_SIDE}, got {content_size}")
    if "int8" in quantizations and not num_calibration_images:
        raise UserError("int8 quantization needs calibration images (--calibration_images); "
                        "or choose --quantization float16")
    if "int8" in quantizations and not num_calibration_styles:
        raise UserError("int8 quantization needs calibration style images (--calibration_styles: "
                        "the transfer model is calibrated over their style vectors); "
                        "or choose --quantization float16")
    return quantizations


def find_images(sources):
    """Image files named by directories (their images), globs or files, sorted per source."""
    found = []
    for source in sources:
        images = image_io.list_images(source)
        if not images:
            raise UserError(f"calibration source {source}: no image files found")
        found += images
    return found


def center_crop(image, size):
    """Resizes [H,W,3] so its shorter side is `size`, then crops the central size x size."""
    image = resize_short_side(image, size)
    top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
    return image[top:top + size, left:left + size]


class _Networks(tf.Module):
    """The model's networks as fixed-shape tf.functions, tracking their TF variables."""

    def __init__(self, model, style_size, content_size):
        super().__init__()
        self.tf_variables = [v.value for v in model.variables.values()]
        self.predict = signatures.predict_function(
            model, signatures.image_spec("style_image", style_size, batch=1),
            output="style_vector", vector_shape=VECTOR_SHAPE)
        self.transfer = signatures.transfer_function(
            model, signatures.image_spec("content_image", content_size, batch=1),
            signatures.vector_spec("style_vector", VECTOR_SHAPE), output="stylized_image")


# The transfer model's ops kept in float32 in int8 (see the module doc): the conditional
# instance norms' arithmetic, the residual adds and the ReLUs fused into them.
TRANSFER_FLOAT_OPS = ("MEAN", "SQUARED_DIFFERENCE", "RSQRT", "MUL", "SUB", "ADD")


def _convert(networks, function, quantization, representative_dataset=None, float_ops=()):
    """The .tflite bytes of one of `networks`' tf.functions at one quantization.

    int8 with `float_ops` (TFLite op names): those ops stay float32, through the selective
    quantization of TFLite's quantization debugger."""
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [function.get_concrete_function()], networks)
    if quantization == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                               tf.lite.OpsSet.TFLITE_BUILTINS]
    with warnings.catch_warnings(), quiet_tensorflow.quiet_stderr():
        warnings.filterwarnings("ignore", INTERPRETER_DEPRECATION)  # Calibration runs one.
        if quantization != "int8" or not float_ops:
            return converter.convert()
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_options=tf.lite.experimental.QuantizationDebugOptions(
                denylisted_ops=list(float_ops)))
        return debugger.get_nondebug_quantized_model()


def with_metadata(tflite_bytes, name, model_config):
    """The converted model `name` ("predict" or "transfer") with its TFLite metadata."""
    inputs, outputs = tflite_metadata.signature_order(tflite_bytes)
    tensors = []
    for order, specs in ((inputs, TENSORS[name][0]), (outputs, TENSORS[name][1])):
        if set(order) != set(specs):
            raise AssertionError(f"{name}: converted tensors {sorted(order)}, expected "
                                 f"{sorted(specs)}")
        tensors.append([(key, *specs[key]) for key in sorted(order, key=order.get)])
    metadata = tflite_metadata.model_metadata(
        f"arbitrary_style {name} ({model_config.backbone} alpha {model_config.alpha})",
        DESCRIPTIONS[name], *tensors, version=arbitrary_style.__version__,
        author="arbitrary_style (export.tflite)")
    return tflite_metadata.attach(tflite_bytes, metadata)


# Per content image: STYLE_VECTORS_PER_CONTENT of the styles' vectors in turn and
# RANDOM_VECTORS_PER_CONTENT random vectors around the styles' mean with RANDOM_VECTOR_SPREAD
# x their per-dimension spread (measured best of spreads 1.0-2.0, 8-32 random vectors).
STYLE_VECTORS_PER_CONTENT = 8
RANDOM_VECTORS_PER_CONTENT = 16
RANDOM_VECTOR_SPREAD = 1.25


def _calibration_datasets(networks, images, styles, style_size, content_size, seed=0):
    """Representative datasets for the predictor and the transfer model (see the module doc)."""
    style_inputs = [center_crop(image, style_size)[None] for image in [*styles, *images]]
    contents = [center_crop(image, content_size)[None] for image in images]
    predicted = np.concatenate([networks.predict(s)["style_vector"].numpy()
                                for s in style_inputs])
    vectors, own = predicted[:len(styles)], predicted[len(styles):]  # Styles', contents'.
    mean, spread = vectors.mean(axis=0), RANDOM_VECTOR_SPREAD * vectors.std(axis=0)
    random = np.random.default_rng(seed).standard_normal(
        (len(contents), RANDOM_VECTORS_PER_CONTENT, *mean.shape)).astype(np.float32)
    count = min(STYLE_VECTORS_PER_CONTENT, len(vectors))

    def transfer_samples():
        for i, content in enumerate(contents):
            chosen = [vectors[(i * count + k) % len(vectors)] for k in range(count)]
            for vector in [*chosen, own[i], *(mean + spread * random[i])]:
                yield {"content_image": content, "style_vector": vector[None]}

    return lambda: ({"style_image": s} for s in style_inputs), transfer_samples


def export_tflite(model, output_dir, quantizations=DEFAULT_QUANTIZATIONS, *, style_size=256,
                  content_size=384, calibration_images=(), calibration_styles=()):
    """Converts `model` (a StyleModel) and writes `predict_Q.tflite`, `transfer_Q.tflite`.

    `calibration_images`, `calibration_styles`: content and style images, float [H,W,3]
    arrays in [0,1] of any size (both needed for int8).
    Returns {"output_dir", "style_size", "content_size", "files": [{"file", "model",
    "quantization", "bytes"}]}. Raises UserError for bad arguments; on any failure no
    file of this export is left behind.
    """
    quantizations = check_arguments(output_dir, quantizations, style_size, content_size,
                                    len(calibration_images), len(calibration_styles))
    networks = _Networks(model, style_size, content_size)
    datasets = {"predict": None, "transfer": None}
    if "int8" in quantizations:
        datasets = dict(zip(datasets, _calibration_datasets(
            networks, calibration_images, calibration_styles, style_size, content_size),
            strict=True))
    float_ops = {"predict": (), "transfer": TRANSFER_FLOAT_OPS}
    converted = [(name, quantization, with_metadata(
                      _convert(networks, getattr(networks, name), quantization, datasets[name],
                               float_ops[name]),
                      name, model.config))
                 for quantization in quantizations for name in datasets]  # Before any writing.
    _write_files(pathlib.Path(output_dir),
                 {f"{name}_{quantization}.tflite": data for name, quantization, data in converted})
    return {"output_dir": str(output_dir), "style_size": style_size,
            "content_size": content_size,
            "files": [{"file": f"{name}_{quantization}.tflite", "model": name,
                       "quantization": quantization, "bytes": len(data)}
                      for name, quantization, data in converted]}


def _write_files(directory, files):
    """Writes {name: bytes} into `directory` atomically; on failure removes what it wrote."""
    created = None
    if not directory.is_dir():
        created = directory
        while not created.parent.exists():
            created = created.parent
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        for name, data in files.items():
            with atomic.atomic_file(directory / name) as temporary:
                temporary.write_bytes(data)
            written.append(directory / name)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        if created:
            shutil.rmtree(created, ignore_errors=True)
        raise


class TFLiteModel:
    """A .tflite file run with `tf.lite.Interpreter` at its fixed input shapes.

        predict = TFLiteModel("predict_int8.tflite", num_threads=2)
        vector = predict(style_image=image[None])  # [1,1,1,100]
    """

    def __init__(self, path, num_threads=None):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", INTERPRETER_DEPRECATION)
            self.interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=num_threads)
        self.interpreter.allocate_tensors()
        signature = self.interpreter.get_signature_runner()
        self.inputs = {name: detail["index"] for name, detail in
                       signature.get_input_details().items()}
        self.input_shapes = {name: tuple(map(int, detail["shape"])) for name, detail in
                             signature.get_input_details().items()}
        (self._output,) = [detail["index"] for detail in signature.get_output_details().values()]

    def __call__(self, **inputs):
        """Runs on float32 arrays of exactly `input_shapes`; returns the one output."""
        if set(inputs) != set(self.inputs):
            raise ValueError(f"expected inputs {sorted(self.inputs)}, got {sorted(inputs)}")
        for name, value in inputs.items():
            self.interpreter.set_tensor(self.inputs[name], np.asarray(value, np.float32))
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._output)


def define_flags():
    """Defines the command's flags (only when it runs as a command)."""
    common_flags.define("weights")
    flags.DEFINE_string("output_dir", None, "Directory for the .tflite files (created if missing; "
                        "files of the same names are replaced).")
    flags.DEFINE_multi_string("quantization", [",".join(DEFAULT_QUANTIZATIONS)],
                              f"Quantizations to export, repeatable or comma-separated: "
                              f"{', '.join(QUANTIZATIONS)}.")
    flags.DEFINE_integer("style_size", 256, "Side of the predictor's square input.")
    flags.DEFINE_integer("content_size", 384, "Side of the transfer model's square content input "
                         "(a multiple of 4).")
    flags.DEFINE_multi_string("calibration_styles", None, "int8 only: a directory, glob or "
                              "image file of style images (repeatable) whose style vectors "
                              "calibrate the transfer model; use many different styles.")
    flags.DEFINE_multi_string("calibration_images", None, "int8 only: a directory, glob or image "
                              "file of content images (repeatable); each is used both as a "
                              "content and as a style image.")
    flags.DEFINE_integer("num_calibration", 32, "int8 only: use at most this many calibration "
                         "images and as many styles, spread evenly over those found.")


def _spread(paths):
    """At most --num_calibration of `paths`, spread evenly over them."""
    picks = np.linspace(0, len(paths) - 1, min(FLAGS.num_calibration, len(paths)))
    return [paths[i] for i in np.unique(picks.round().astype(int))]


def main(argv):
    """The command: validates the flags, loads the weights and images, exports, prints JSON."""
    if not FLAGS.output_dir:
        raise UserError("--output_dir is required")
    if FLAGS.num_calibration < 1:
        raise UserError(f"--num_calibration must be positive, got {FLAGS.num_calibration}")
    paths = find_images(FLAGS.calibration_images or [])
    style_paths = find_images(FLAGS.calibration_styles or [])
    quantizations = check_arguments(FLAGS.output_dir, FLAGS.quantization, FLAGS.style_size,
                                    FLAGS.content_size, len(paths), len(style_paths))
    if "int8" in quantizations:
        paths, style_paths = _spread(paths), _spread(style_paths)
    else:
        paths, style_paths = [], []
    weights_dir = store.resolve_weights(FLAGS.weights)
    model = store.load_model(weights_dir)
    summary = export_tflite(model, FLAGS.output_dir, quantizations, style_size=FLAGS.style_size,
                            content_size=FLAGS.content_size,
                            calibration_images=[image_io.load_image(p) for p in paths],
                            calibration_styles=[image_io.load_image(p) for p in style_paths])
    print(json.dumps({"weights": str(weights_dir), **summary,
                      "calibration_images": [str(p) for p in paths],
                      "calibration_styles": [str(p) for p in style_paths]}, indent=2))
    return 0


if __name__ == "__main__":
    define_flags()
    cli.run(main)
