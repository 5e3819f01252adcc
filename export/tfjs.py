"""Export a model as TensorFlow.js graph models: a style predictor and transfer models.

    python -m export.tfjs --setup                  # once: the converter's own virtualenv
    python -m export.tfjs --weights magenta-mobile --output exported/tfjs [--quantization float16]
    python -m export.tfjs --output exported/tfjs --styles @great-wave,@starry-night
    python -m export.tfjs --layout magenta --output exported/tfjs_magenta

Writes, atomically (a failed export leaves nothing; --overwrite replaces an existing DIR):

    DIR/predict/model.json (+ shards)   style [B,H,W,3] float32 in [0,1] -> style_vector [B,100]
    DIR/transfer/model.json (+ shards)  content [B,H,W,3] in [0,1], style_vector [B or 1,100]
                                        -> stylized [B,H,W,3] in [0,1]
    DIR/transfer_tuned/model.json       content, style_vector, norm_offsets [B or 1,M] (a tuned
                                        style's per-layer offsets, `norm_params.flatten`)
                                        -> stylized; the same weights as transfer/
    DIR/styles.json                     the tuned styles: name, painting, painter, year,
                                        source, vector, norm offsets (base64 float16)
    DIR/export.json                     what is where: names, shapes, quantization, source

Tuned styles (`arbitrary_style.tuned_styles`): by default every one made for the exported
weights (the built-ins and the cached ones); `--styles @a,@b` picks some, `--styles none`
none (styles.json then lists none). A style's offsets are zeros where it has none; the
transfer_tuned model with zero offsets computes what transfer/ does. transfer_tuned/ reads the
weights transfer/ shares with it from transfer/'s shards (its model.json's weightsManifest
points there; it keeps a shard of its own for the few constants that differ): the converter
has no such option, so the export rewrites the manifest after converting (`_share_weights`).

Load them with `tf.loadGraphModel(".../predict/model.json")` and run
`predict.execute({style}, "style_vector")`, `transfer.execute({content, style_vector},
"stylized")`, `transfer_tuned.execute({content, style_vector, norm_offsets}, "stylized")`
(the output names are optional: each model has one output). Shapes are dynamic (null in
export.json is "any"); resize style images to 256 px, as the networks were trained, and
give contents at least 16 px a side.

`--layout magenta` writes the predict and transfer models (no tuned styles) under the names
and shapes of Magenta's published TF.js graphs, for code written for those, which runs
nodes by name or by position:

    predict   Placeholder [B,H,W,3] (style) -> mobilenet_conv/Conv/BiasAdd [B,1,1,100]
    transfer  Placeholder [B,H,W,3] (content), Placeholder_1 [B or 1,1,1,100]
              -> transformer/expand/conv3/conv/Sigmoid [B,H,W,3]

    vector = predict.predict(style);  stylized = transfer.predict([content, vector]);
    transfer.execute({Placeholder: content, Placeholder_1: vector},
                     "transformer/expand/conv3/conv/Sigmoid")

The graphs' input and output nodes themselves carry those names (the converter names them
`placeholder`, `placeholder_1` and `Identity`; the export renames them in model.json), so
code that predates graph-model signatures finds them too.

Quantization (`--quantization`, default float16) of the stored weights; TF.js dequantizes
them when it loads the model and computes in float32 either way:
- float32: exact (stylized pixels within 2e-5 of the Keras model's).
- float16 (default): both models half the size; stylized pixels in [0, 1] differ from the
  Keras model's by 3e-3 on average and by up to 2e-2..7e-2 at single pixels (style vector
  up to 1.3e-2..2.5e-2), measured on three photo/style pairs with
  `benchmarks/tfjs_quantization.py`: invisible in a demo, but not for a client that
  compares its outputs with this package's (use float32 there).
- uint8: the transfer model in uint8 (a quarter of float32), the predictor in float16;
  stylized pixels differ by 6e-3 on average, up to 0.06..0.25.
  The converter quantizes each weight tensor with one affine uint8 scale; the
  predictor's convolutions carry folded batch norms whose few large weights stretch
  that scale until the small ones collapse (style vector cosine ~0.6), while the
  transfer model, whose normalization stays a separate op, loses little.

The converter is tensorflowjs 4.22, which needs TensorFlow 2.19 (through
tensorflow-decision-forests) and cannot live in this project's TF 2.21 environment, so it
runs as a subprocess from its own virtualenv: $ARBITRARY_STYLE_TFJS_PYTHON (a python that
has tensorflowjs), else $ARBITRARY_STYLE_HOME/tfjs-converter/bin/python (default
~/.cache/arbitrary_style/tfjs-converter), which `--setup` creates (needs the network;
2 min and 2.9 GB on disk here). `--setup` prints that python's path on stdout.
"""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

from absl import flags

import numpy as np

from arbitrary_style import atomic, cli, common_flags, norm_params, specs, tuned_styles
from arbitrary_style.errors import UserError
from arbitrary_style.model_config import (DEFAULT_STYLE_SIZE, MIN_CONTENT_SIDE,
                                          STYLE_VECTOR_SIZE, norm_layers)
from arbitrary_style.weights import store

QUANTIZATIONS = ("float32", "float16", "uint8")
DEFAULT_QUANTIZATION = "float16"
# What each --quantization stores for each model (see the module docstring for uint8).
# (transfer_tuned is stored as transfer is.)
PLANS = {"float32": {"predict": "float32", "transfer": "float32", "transfer_tuned": "float32"},
         "float16": {"predict": "float16", "transfer": "float16", "transfer_tuned": "float16"},
         "uint8": {"predict": "float16", "transfer": "uint8", "transfer_tuned": "uint8"}}
# One argv element each: bare `--quantize_float16` would take the next argument as its value.
CONVERTER_FLAGS = {"float32": [], "float16": ["--quantize_float16=*"],
                   "uint8": ["--quantize_uint8=*"]}
TUNED = "transfer_tuned"  # The transfer model that takes norm offsets (layout "ours" only).
SIGNATURES = {"predict": "predict_style", "transfer": "transfer", TUNED: "transfer_tuned"}
IMAGE_SHAPE = [None, None, None, 3]
VECTOR_SHAPE = [None, STYLE_VECTOR_SIZE]
SPECS = {"predict": ({"style": IMAGE_SHAPE}, {"style_vector": VECTOR_SHAPE}),
         "transfer": ({"content": IMAGE_SHAPE, "style_vector": VECTOR_SHAPE},
                      {"stylized": IMAGE_SHAPE})}


def tuned_specs(offsets_size):
    """transfer_tuned's inputs and outputs for norm offsets of `offsets_size` values."""
    return ({"content": IMAGE_SHAPE, "style_vector": VECTOR_SHAPE,
             "norm_offsets": [None, offsets_size]}, {"stylized": IMAGE_SHAPE})


# Magenta's published TF.js graphs: node names, and the style vector as [B, 1, 1, 100].
MAGENTA_VECTOR_SHAPE = [None, 1, 1, STYLE_VECTOR_SIZE]
MAGENTA_SPECS = {
    "predict": ({"Placeholder": IMAGE_SHAPE},
                {"mobilenet_conv/Conv/BiasAdd": MAGENTA_VECTOR_SHAPE}),
    "transfer": ({"Placeholder": IMAGE_SHAPE, "Placeholder_1": MAGENTA_VECTOR_SHAPE},
                 {"transformer/expand/conv3/conv/Sigmoid": IMAGE_SHAPE})}
LAYOUT_SPECS = {"ours": SPECS, "magenta": MAGENTA_SPECS}
LAYOUTS = tuple(LAYOUT_SPECS)
DEFAULT_LAYOUT = "ours"
MANIFEST = "export.json"
FORMAT_VERSION = 1
STYLES_FILE = "styles.json"
STYLES_FORMAT_VERSION = 1
# What styles.json keeps of a tuned style's record besides its name, vector and offsets.
STYLE_DESCRIPTION = ("painting", "painter", "year", "source", "licence")
NO_STYLES = "none"  # --styles none

CONVERTER_ENV = "ARBITRARY_STYLE_TFJS_PYTHON"
# `ydf<0.16`: ydf 0.16's protobuf-6 generated code fails against TF 2.19's protobuf 5.29.
CONVERTER_REQUIREMENTS = ("tensorflowjs==4.22.0", "ydf<0.16")
SETUP_COMMAND = "python -m export.tfjs --setup"
CONVERSION_TIMEOUT_S = 900
# Imports what a conversion imports and prints the converter's version.
_CHECK = ("import importlib.metadata, tensorflowjs.converters.converter; "
          "print(importlib.metadata.version('tensorflowjs'))")
_QUICK_CHECK = "import importlib.metadata; print(importlib.metadata.version('tensorflowjs'))"


def default_converter_venv():
    """Where `--setup` puts the converter's virtualenv: $ARBITRARY_STYLE_HOME/tfjs-converter."""
    return store.home() / "tfjs-converter"


def resolve_converter_python():
    """The python that runs the converter: $ARBITRARY_STYLE_TFJS_PYTHON or the default venv's."""
    return pathlib.Path(os.environ.get(CONVERTER_ENV)
                        or default_converter_venv() / "bin" / "python")


def _converter_env():
    """The environment for converter subprocesses.

    Drops PYTHONPATH/PYTHONHOME (they belong to this environment, not the converter's), hides
    GPUs (conversion needs none; TensorFlow would initialize CUDA and take GPU memory) and
    quiets TensorFlow's C++ logging.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["CUDA_VISIBLE_DEVICES"] = "-1"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def last_error_line(output):
    """The line of a tool's output that says what failed: the last exception line, else the last
    line; at most 300 characters."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    pattern = re.compile(r"^(error:|[A-Za-z_][\w.]*(Error|Exception|Exit)\b)")
    errors = [line for line in lines if pattern.match(line)]
    line = (errors or lines or ["(no output)"])[-1]
    return line if len(line) <= 300 else line[:297] + "..."


def check_converter(python=None, *, full=False):
    """The tensorflowjs version of the converter python; UserError when there is none.

    `full` imports the converter itself (seconds: it imports TensorFlow), which also catches
    a broken install; otherwise only the package's metadata is read.
    """
    python = pathlib.Path(python or resolve_converter_python())
    how = (f"run `{SETUP_COMMAND}` (or set {CONVERTER_ENV} to a python with "
           f"{CONVERTER_REQUIREMENTS[0]})")
    if not python.exists():
        raise UserError(f"no TF.js converter at {python}; {how}")
    try:
        result = subprocess.run([str(python), "-c", _CHECK if full else _QUICK_CHECK],
                                capture_output=True, text=True, env=_converter_env(),
                                timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise UserError(f"cannot run the TF.js converter {python}: {error}; {how}") from None
    if result.returncode != 0:
        raise UserError(f"{python} cannot run the TF.js converter: "
                        f"{last_error_line(result.stderr + result.stdout)}; {how}")
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else "unknown"


def check_quantization(quantization):
    if quantization not in QUANTIZATIONS:
        raise UserError(f"unknown quantization {quantization!r}; choose from "
                        f"{', '.join(QUANTIZATIONS)}")
    return quantization


def check_layout(layout):
    if layout not in LAYOUTS:
        raise UserError(f"unknown layout {layout!r}; choose from {', '.join(LAYOUTS)}")
    return layout


def check_styles_layout(styles, layout):
    if styles and layout != "ours":
        raise UserError(f"tuned styles need --layout ours (the {layout} layout has no "
                        f"{TUNED} model); pass --styles {NO_STYLES}")


def _check_output(output, overwrite):
    if output.exists() and not output.is_dir():
        raise UserError(f"{output} exists and is not a directory")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise UserError(f"{output} exists and is not empty (use --overwrite to replace it)")


def _convert_all(python, saved_model, staging, plan, names):
    """Runs the converter for the models `names` at once (a process each); UserError on a
    failure."""
    processes = {}
    for name in names:
        signature = SIGNATURES[name]
        command = [str(python), "-m", "tensorflowjs.converters.converter",
                   "--input_format=tf_saved_model", f"--signature_name={signature}",
                   "--saved_model_tags=serve", *CONVERTER_FLAGS[plan[name]],
                   str(saved_model), str(staging / name)]
        processes[name] = subprocess.Popen(command, stdout=subprocess.PIPE,
                                           stderr=subprocess.STDOUT, text=True,
                                           env=_converter_env())
    try:
        outputs = {name: process.communicate(timeout=CONVERSION_TIMEOUT_S)[0]
                   for name, process in processes.items()}
    except subprocess.TimeoutExpired:
        raise UserError(f"TF.js conversion took over {CONVERSION_TIMEOUT_S} s; "
                        "stopped") from None
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    for name, process in processes.items():
        if process.returncode != 0:
            raise UserError(f"TF.js conversion of {SIGNATURES[name]} failed (exit status "
                            f"{process.returncode}): {last_error_line(outputs[name])}")
        if not (staging / name / "model.json").is_file():
            raise UserError(f"TF.js conversion of {SIGNATURES[name]} wrote no model.json: "
                            f"{last_error_line(outputs[name])}")


def _describe(name, plan, model_specs, source_dir):
    files = sorted(p.name for p in (source_dir / name).iterdir())
    inputs, outputs = model_specs[name]
    return {"path": f"{name}/model.json", "signature": SIGNATURES[name],
            "quantization": plan[name],
            "inputs": {k: {"shape": shape, "dtype": "float32"} for k, shape in inputs.items()},
            "outputs": {k: {"shape": shape, "dtype": "float32"} for k, shape in outputs.items()},
            "files": files, "bytes": sum((source_dir / name / f).stat().st_size for f in files)}


def export_tfjs(model, output, *, quantization=DEFAULT_QUANTIZATION, layout=DEFAULT_LAYOUT,
                overwrite=False, converter_python=None, source=None, styles=()):
    """Writes `model` (a StyleModel) as TF.js graph models into `output` (see the module doc).

    `layout`: "ours" (names style, content, style_vector, stylized; with transfer_tuned and
    styles.json) or "magenta" (the published graphs' node names and [B,1,1,100] vectors).
    `styles`: the tuned styles (`tuned_styles.TunedStyle`, made for `model`'s weights:
    `styles_for`) that styles.json lists.

    `converter_python`: a python with tensorflowjs (default: `resolve_converter_python()`).
    `source`: what to record as the weights' origin (e.g. the weights directory).
    Returns the contents of export.json plus {"output": str(output)}. Raises UserError for
    bad arguments, a missing converter or a failed conversion; on any failure `output` is
    left as it was (missing, or the old export) and nothing else is left behind.
    """
    output = pathlib.Path(output)
    plan = PLANS[check_quantization(quantization)]
    check_styles_layout(styles, check_layout(layout))
    styles_json = (styles_manifest(styles, model.config.alpha) if layout == "ours" else None)
    _check_output(output, overwrite)
    python = pathlib.Path(converter_python or resolve_converter_python())
    version = check_converter(python)

    created = output.parent  # The first missing ancestor, removed on failure.
    while not created.parent.exists():
        created = created.parent
    created = None if created.exists() else created
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic.atomic_directory(output) as staging:
            manifest = _build(model, source, python, version, plan, quantization, layout,
                              staging, styles_json)
    except BaseException:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise
    return {**manifest, "output": str(output)}


def _build(model, source, python, version, plan, quantization, layout, staging, styles_json):
    """Writes the export into `staging`; returns the contents of export.json."""
    from export import saved_model as saved_model_export  # Imports TensorFlow.

    model_specs = dict(LAYOUT_SPECS[layout])
    if layout == "magenta":
        saved_model = saved_model_export.export_magenta_graphs(
            model, staging / "saved_model", MAGENTA_SPECS)
    else:
        saved_model = saved_model_export.export_saved_model(model, staging / "saved_model",
                                                            tuned=True)
        model_specs[TUNED] = tuned_specs(styles_json["norm_offsets"]["size"])
    _convert_all(python, saved_model, staging, plan, model_specs)
    shutil.rmtree(saved_model)
    if layout == "magenta":
        for name in model_specs:
            _rename_io_nodes(staging / name / "model.json")
    saved = _share_weights(staging, TUNED, "transfer") if TUNED in model_specs else 0
    models = {name: _describe(name, plan, model_specs, staging) for name in model_specs}
    if saved:
        models[TUNED].update(shares_weights_with="transfer", shared_bytes=saved)
    manifest = {
        "format": "arbitrary_style.tfjs", "format_version": FORMAT_VERSION,
        "layout": layout, "quantization": quantization,
        "source": {"weights": None if source is None else str(source),
                   "backbone": model.config.backbone, "alpha": model.config.alpha},
        "converter": f"tensorflowjs {version}",
        "style_vector_size": STYLE_VECTOR_SIZE, "style_size": DEFAULT_STYLE_SIZE,
        "min_content_side": MIN_CONTENT_SIDE, "value_range": [0.0, 1.0],
        "models": models,
    }
    if styles_json is not None:
        text = json.dumps(styles_json, separators=(",", ":")) + "\n"
        (staging / STYLES_FILE).write_text(text)
        manifest["styles"] = {"path": STYLES_FILE, "count": len(styles_json["styles"]),
                              "bytes": len(text.encode())}
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def styles_for(weights, selection=None):
    """The tuned styles (`tuned_styles.TunedStyle`) for the weights named `weights`: the
    named ones (`selection`: names, "@NAME" or "NAME"), else every one made for them (the
    built-ins and the cached ones). UserError for a missing one or one made for others."""
    if selection is None:
        selection = [name for name in tuned_styles.all_names()
                     if tuned_styles.load(name).get("weights") == weights]
    return [tuned_styles.style_for(name.removeprefix(specs.TUNED_STYLE_PREFIX), weights)
            for name in selection]


def styles_manifest(styles, alpha):
    """The contents of styles.json for tuned styles of a transformer of width `alpha`: each
    style's name, description, vector (float32 values) and flat norm offsets
    (`norm_params.flatten`; base64 little-endian float16, as the styles store them; null
    when the style has none, i.e. zeros)."""
    layers = norm_layers(alpha)
    entries = []
    for style in styles:
        offsets = norm_params.flatten(style.norm_offsets, alpha, f"tuned style {style.name!r}")
        entries.append({
            "name": style.name,
            **{key: style.record[key] for key in STYLE_DESCRIPTION if key in style.record},
            "vector": [float(str(value)) for value in np.asarray(style.vector, np.float32)],
            "norm_offsets": None if offsets is None else tuned_styles.encode_float16(offsets)})
    return {"format": "arbitrary_style.tfjs_styles", "format_version": STYLES_FORMAT_VERSION,
            "norm_offsets": {"size": 2 * sum(channels for _, channels in layers),
                             "dtype": tuned_styles.OFFSETS_DTYPE,
                             "encoding": "base64, little-endian",
                             "layers": [[key, channels] for key, channels in layers]},
            "styles": entries}


# Bytes per stored value of a TF.js weight (its quantization's dtype, else its own).
_VALUE_BYTES = {"float32": 4, "int32": 4, "float16": 2, "uint16": 2, "uint8": 1, "bool": 1}


def _weights_of(model_dir):
    """(model.json's contents, [(weight spec, its stored bytes)] in manifest order) of a
    converted model; the list is None for a manifest this cannot take apart."""
    artifacts = json.loads((model_dir / "model.json").read_text())
    manifest = artifacts.get("weightsManifest")
    if not manifest:
        return artifacts, None
    data = b"".join((model_dir / path).read_bytes()
                    for group in manifest for path in group["paths"])
    weights, offset = [], 0
    for spec in (spec for group in manifest for spec in group["weights"]):
        dtype = spec.get("quantization", {}).get("dtype", spec["dtype"])
        if dtype not in _VALUE_BYTES:
            return artifacts, None
        size = int(np.prod(spec["shape"], dtype=np.int64)) * _VALUE_BYTES[dtype]
        weights.append((spec, data[offset:offset + size]))
        offset += size
    return artifacts, weights if offset == len(data) else None


def _share_weights(staging, name, shared):
    """Makes the model `name` read the weights it has in common with the model `shared`
    (same name, spec and bytes) from `shared`'s shards ("../shared/..." in its
    weightsManifest), keeping one shard of its own for the rest; returns the bytes saved
    (0: nothing shared, the model left as it is).

    Weights of `shared` that `name` has under the same name with other values are listed
    under "unused/..." names in the borrowed group (TF.js loads them and no node reads them).
    """
    artifacts, own = _weights_of(staging / name)
    theirs_json, theirs = _weights_of(staging / shared)
    if own is None or theirs is None:
        return 0
    theirs_by_name = {spec["name"]: (spec, data) for spec, data in theirs}
    rest = [(spec, data) for spec, data in own if theirs_by_name.get(spec["name"]) != (spec, data)]
    if len(rest) == len(own):
        return 0
    differing = {spec["name"] for spec, _ in rest}
    manifest = [{"paths": [f"../{shared}/{path}" for path in group["paths"]],
                 "weights": [dict(spec, name=f"unused/{spec['name']}")
                             if spec["name"] in differing else spec
                             for spec in group["weights"]]}
                for group in theirs_json["weightsManifest"]]
    for group in artifacts["weightsManifest"]:
        for path in group["paths"]:
            (staging / name / path).unlink()
    if rest:
        shard = "group1-shard1of1.bin"
        (staging / name / shard).write_bytes(b"".join(data for _, data in rest))
        manifest.append({"paths": [shard], "weights": [spec for spec, _ in rest]})
    artifacts["weightsManifest"] = manifest
    (staging / name / "model.json").write_text(json.dumps(artifacts))
    return sum(len(data) for _, data in own) - sum(len(data) for _, data in rest)


def _rename_io_nodes(model_json):
    """Gives a converted graph's input and output nodes their signature keys as node names.

    The converter names a signature's nodes after the function's arguments, lowercased
    (`placeholder`), and its outputs `Identity`; code for Magenta's graphs asks for the nodes
    `Placeholder` and `mobilenet_conv/Conv/BiasAdd`. Renames the nodes, every reference to
    them (`name`, `name:0`, `^name`) and the signature's tensor names.
    """
    artifacts = json.loads(model_json.read_text())
    signature = artifacts["signature"]
    renames = {}
    for entries in (signature["inputs"], signature["outputs"]):
        for key, tensor in entries.items():
            node, _, index = tensor["name"].partition(":")
            renames[node] = key
            tensor["name"] = f"{key}:{index or 0}"
    nodes = artifacts["modelTopology"]["node"]
    taken = {node["name"] for node in nodes} - set(renames)
    if taken & set(renames.values()):
        raise UserError(f"cannot rename {model_json}'s nodes: "
                        f"{sorted(taken & set(renames.values()))} already exist")

    def renamed(reference):
        control, name = ("^", reference[1:]) if reference.startswith("^") else ("", reference)
        node, colon, index = name.partition(":")
        return control + renames.get(node, node) + colon + index

    for node in nodes:
        node["name"] = renames.get(node["name"], node["name"])
        if "input" in node:
            node["input"] = [renamed(reference) for reference in node["input"]]
    model_json.write_text(json.dumps(artifacts))


def setup_converter(venv=None, *, log=None):
    """Creates (or checks) the converter's virtualenv; returns its python. Idempotent.

    Needs the network for pip. An existing venv whose converter imports is kept as it is.
    """
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    venv = pathlib.Path(venv or default_converter_venv())
    python = venv / "bin" / "python"
    if python.exists():
        log(f"checking the TF.js converter in {venv} ...")
        try:
            version = check_converter(python, full=True)
            log(f"tensorflowjs {version} is already set up in {venv}")
            return python
        except UserError as error:
            log(f"{error}; reinstalling")
    if venv.exists() and any(venv.iterdir()) and not (venv / "pyvenv.cfg").is_file():
        raise UserError(f"{venv} exists and is not a virtualenv; remove it or choose another")
    log(f"creating a virtualenv in {venv} ...")
    _run_step([sys.executable, "-m", "venv", "--clear", str(venv)], "creating the virtualenv")
    log(f"installing {' '.join(CONVERTER_REQUIREMENTS)} (TensorFlow 2.19; about a minute, "
        "3 GB) ...")
    _run_step([str(python), "-m", "pip", "install", "--disable-pip-version-check",
               "--progress-bar", "off", *CONVERTER_REQUIREMENTS],
              "pip install (TensorFlow 2.19 needs Python 3.9-3.12 and the network)")
    log("checking that the converter imports ...")
    version = check_converter(python, full=True)
    log(f"tensorflowjs {version} is set up in {venv}")
    return python


def _run_step(command, what):
    """Runs a setup step with its output on stderr; UserError if it fails."""
    try:
        result = subprocess.run(command, stdout=sys.stderr, stderr=sys.stderr,
                                env=_converter_env(), check=False)
    except OSError as error:
        raise UserError(f"{what} failed: {error}") from None
    if result.returncode != 0:
        raise UserError(f"{what} failed (exit status {result.returncode}); see its output above")


def define_flags():
    """Defines the command's flags (only when it runs as a command)."""
    flags.DEFINE_bool("setup", False, "Create the TF.js converter's virtualenv at "
                      "$ARBITRARY_STYLE_HOME/tfjs-converter (needs the network; idempotent) "
                      "and print its python's path.")
    common_flags.define("weights", "output")
    flags.DEFINE_string("quantization", DEFAULT_QUANTIZATION,
                        f"Weight storage: {', '.join(QUANTIZATIONS)}. float32 matches the Keras "
                        "model (stylized pixels within 2e-5); float16 halves the download, "
                        "pixels off by 3e-3 on average and up to ~7e-2 (measured on photos: "
                        "fine for a demo, not for comparing outputs); uint8 (transfer model "
                        "only; the predictor is float16) up to ~0.25.")
    flags.DEFINE_string("layout", DEFAULT_LAYOUT, "Names and shapes of the graphs' inputs and "
                        "outputs: ours (style, content, style_vector [B,100], stylized) or "
                        "magenta (Placeholder, Placeholder_1 [B,1,1,100], "
                        "mobilenet_conv/Conv/BiasAdd, transformer/expand/conv3/conv/Sigmoid: "
                        "Magenta's published TF.js graphs).")
    flags.DEFINE_string("styles", None, "The tuned styles styles.json lists, as @NAME,@NAME "
                        "(default: every one made for --weights, built-in or cached; "
                        f"'{NO_STYLES}': none). Layout ours only.")
    flags.DEFINE_bool("overwrite", False, "Replace an existing output directory.")


def main(argv):
    """The command: --setup, or validate the flags, load the weights, export, print JSON."""
    FLAGS = flags.FLAGS
    if FLAGS.setup:
        if FLAGS.output:
            raise UserError("--setup takes no --output; run the export as a second command")
        print(setup_converter())
        return 0
    if not FLAGS.output:
        raise UserError("--output is required (see --help)")
    check_quantization(FLAGS.quantization)
    check_layout(FLAGS.layout)
    _check_output(pathlib.Path(FLAGS.output), FLAGS.overwrite)
    selection = (None if FLAGS.styles is None else
                 [name.strip() for name in FLAGS.styles.split(",") if name.strip()])
    if selection == [NO_STYLES] or (selection is None and FLAGS.layout != "ours"):
        selection = []
    check_styles_layout(selection, FLAGS.layout)
    styles = styles_for(FLAGS.weights or store.DEFAULT_WEIGHTS, selection)
    check_converter()  # Before loading any weights.
    weights_dir = store.resolve_weights(FLAGS.weights)
    model = store.load_model(weights_dir)
    summary = export_tfjs(model, FLAGS.output, quantization=FLAGS.quantization,
                          layout=FLAGS.layout, overwrite=FLAGS.overwrite, source=weights_dir,
                          styles=styles)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    define_flags()
    cli.run(main)
