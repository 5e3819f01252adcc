"""Tests of the TF.js exporter (`export/tfjs.py`): the exported graph models run in Node.

They need, made before the tests with the network (as .ci/run does):
- the converter, a python with tensorflowjs 4.22 (`python -m export.tfjs --setup`), found
  through $ARBITRARY_STYLE_TFJS_PYTHON or the default venv under the real cache home;
- node, and @tensorflow/tfjs in export/web/node_modules (`npm ci --prefix export/web`).
A test that needs a missing one fails and says what to run. The models run on the pure-JS
cpu backend (`tests/js/run_graph_models.js`) and are compared with the Keras networks on
small random images (64 px: conversion does not depend on the size, Node's cpu backend is slow).
The tuned-transfer model is compared with the library's stylization with a built-in tuned
style's vector and norm offsets (TUNED_STYLE).
"""

import base64
import json
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import user_environment

from arbitrary_style import norm_params, tuned_styles
from arbitrary_style.errors import UserError
from arbitrary_style.weights import store
from export import tfjs

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]
NODE_SCRIPT = REPOSITORY / "tests" / "js" / "run_graph_models.js"
TFJS_PACKAGE = REPOSITORY / "export" / "web" / "node_modules" / "@tensorflow" / "tfjs"
# Read at import, before conftest's autouse fixture points ARBITRARY_STYLE_HOME at a temp dir.
CONVERTER = str(tfjs.resolve_converter_python())
SIZE = 64
TUNED_STYLE = "great-wave"  # A built-in style with per-layer norm offsets.

# A stand-in converter: answers the version check; "converts" by writing a model.json and a
# shard, except for the signature named by $FAKE_TFJS_FAIL, where it fails like the real one.
FAKE_CONVERTER = """#!/bin/sh
if [ "$1" = "-c" ]; then echo 4.22.0; exit 0; fi
for out; do :; done
case " $* " in *" --signature_name=$FAKE_TFJS_FAIL "*)
  echo "Traceback (most recent call last):"; echo "ValueError: boom" >&2; exit 3;; esac
mkdir -p "$out" && echo '{}' > "$out/model.json" && echo weights > "$out/group1-shard1of1.bin"
"""


@pytest.fixture(scope="session")
def converter():
    """The converter python; fails (not skips) the test when there is none."""
    try:
        tfjs.check_converter(CONVERTER)
        return CONVERTER
    except UserError as error:
        message = str(error)
    pytest.fail(f"TF.js converter missing: {message}", pytrace=False)


@pytest.fixture(scope="session")
def node():
    """The node executable, with @tensorflow/tfjs installed for the runner script."""
    node = shutil.which("node")
    if node is None or not (TFJS_PACKAGE / "package.json").is_file():
        pytest.fail("Node.js and @tensorflow/tfjs are needed: install node, then run "
                    "`npm ci --prefix export/web`", pytrace=False)
    return node


def tuned_style():
    """TUNED_STYLE's vector [100] and flat norm offsets [M]."""
    style = tuned_styles.style_for(TUNED_STYLE, store.DEFAULT_WEIGHTS)
    assert style.norm_offsets is not None
    return style.vector, norm_params.flatten(style.norm_offsets, 0.25)


def as_input(array):
    return {"data": array[None].ravel().tolist(), "shape": [1, *array.shape]}


@pytest.fixture(scope="module")
def inputs(imported_model, tmp_path_factory):
    """Style and content images, another style's vector, a tuned style, the library's
    outputs (the tuned style's in `expected["tuned"]`), as a file."""
    rng = np.random.default_rng(0)
    style = rng.random((SIZE, SIZE, 3), dtype=np.float32)
    content = rng.random((SIZE, SIZE, 3), dtype=np.float32)
    other = imported_model.predict_style(rng.random((SIZE, SIZE, 3), dtype=np.float32), size=None)
    vector = imported_model.predict_style(style, size=None)
    tuned_vector, offsets = tuned_style()
    expected = {"style_vector": vector, "stylized": imported_model.stylize(content, vector),
                "stylized_given_vector": imported_model.stylize(content, other)}
    path = tmp_path_factory.mktemp("tfjs_inputs") / "inputs.json"
    path.write_text(json.dumps({
        "style": as_input(style), "content": as_input(content), "style_vector": as_input(other),
        "tuned": {"style_vector": as_input(tuned_vector), "norm_offsets": as_input(offsets)}}))
    tuned = {"stylized": imported_model.stylize(content, tuned_vector, norm_offsets=offsets),
             "vector_only": imported_model.stylize(content, tuned_vector)}
    return path, content, {**expected, "tuned": tuned}


@pytest.fixture(scope="module")
def export_root(tmp_path_factory):
    return tmp_path_factory.mktemp("tfjs_exports")


def library_export(model, root, quantization):
    styles = [tuned_styles.style_for(TUNED_STYLE, store.DEFAULT_WEIGHTS)]
    return tfjs.export_tfjs(model, root / quantization, quantization=quantization,
                            converter_python=CONVERTER, source="tests", styles=styles)


@pytest.fixture(scope="module")
def float32_export(imported_model, export_root, converter):
    return library_export(imported_model, export_root, "float32")


@pytest.fixture(scope="module")
def uint8_export(imported_model, export_root, converter):
    return library_export(imported_model, export_root, "uint8")


def run_command(args, home, **env):
    return subprocess.run([sys.executable, "-m", "export.tfjs", *map(str, args)], cwd=REPOSITORY,
                          env=user_environment(ARBITRARY_STYLE_HOME=str(home), **env),
                          capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def float16_export(weights_home, export_root, converter):
    """The float16 export made by the command (the default quantization) from cached weights."""
    result = run_command(["--output", export_root / "float16"], weights_home,
                         **{tfjs.CONVERTER_ENV: converter})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == ""  # No TensorFlow or converter log lines.
    return json.loads(result.stdout)


def run_node(node, model_dir, input_path):
    """The runner script's outputs, {name: array without the batch axis} plus its metadata."""
    output_path = input_path.parent / f"{model_dir.name}_outputs.json"
    result = subprocess.run([node, NODE_SCRIPT, model_dir, input_path, output_path],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    output = json.loads(output_path.read_text())
    for name in ("style_vector", "stylized", "stylized_given_vector", "stylized_tuned"):
        if name in output:
            output[name] = np.asarray(output[name]["data"], np.float32).reshape(
                output[name]["shape"])[0]
    return output


def cosine(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def max_differences(output, expected):
    return {name: float(np.abs(output[name] - expected[name]).max()) for name in expected
            if name != "tuned"}


def test_float32_matches_the_library(float32_export, inputs, node):
    input_path, content, expected = inputs
    output = run_node(node, pathlib.Path(float32_export["output"]), input_path)
    assert (output["tfjs"], output["backend"]) == ("4.22.0", "cpu")
    assert output["predict"]["inputs"] == ["style"]
    assert output["transfer"]["inputs"] == ["content", "style_vector"]
    assert output["stylized"].shape == (SIZE, SIZE, 3)
    assert np.abs(expected["stylized"] - content).mean() > 0.2  # Measured 0.28: a real style.
    # Measured: 3e-6 (vector), 5e-6 (images).
    assert max(max_differences(output, expected).values()) < 1e-4


def test_tuned_transfer_matches_the_library(float32_export, inputs, node):
    input_path, _, expected = inputs
    output = run_node(node, pathlib.Path(float32_export["output"]), input_path)
    assert output["transfer_tuned"]["inputs"] == ["content", "norm_offsets", "style_vector"]
    # transfer_tuned reads transfer's weights from transfer's shard (Node ran it from there).
    model = float32_export["models"]["transfer_tuned"]
    assert model["shares_weights_with"] == "transfer"
    assert weight_bytes(model, float32_export["output"]) < 0.01 * weight_bytes(
        float32_export["models"]["transfer"], float32_export["output"])
    tuned = expected["tuned"]
    assert np.abs(output["stylized_tuned"] - tuned["stylized"]).max() < 1e-4  # Measured 3e-6.
    # The offsets matter: without them the library's result is another image.
    assert np.abs(tuned["stylized"] - tuned["vector_only"]).max() > 0.05  # Measured 0.16.


def test_float16_is_close_and_half_the_size(float16_export, float32_export, inputs, node):
    input_path, _, expected = inputs
    output = run_node(node, pathlib.Path(float16_export["output"]), input_path)
    # Measured: 0.017 (vector), 0.016 (stylized), 0.002 (stylized with the given vector).
    differences = max_differences(output, expected)
    assert differences["style_vector"] < 3e-2 and differences["stylized"] < 3e-2
    assert differences["stylized_given_vector"] < 1e-2
    assert cosine(output["style_vector"], expected["style_vector"]) > 0.9999
    assert np.abs(output["stylized"] - expected["stylized"]).mean() < 5e-3  # Measured 0.0025.
    assert np.abs(output["stylized_tuned"] - expected["tuned"]["stylized"]).mean() < 5e-3
    for name in ("predict", "transfer"):
        assert (weight_bytes(float16_export["models"][name], float16_export["output"])
                == pytest.approx(weight_bytes(float32_export["models"][name],
                                              float32_export["output"]) / 2, rel=0.01))


def test_styles_json_holds_the_tuned_styles_of_the_weights(float16_export, weights_home,
                                                            monkeypatch):
    """The command's default: every tuned style made for the exported weights."""
    monkeypatch.setenv("ARBITRARY_STYLE_HOME", str(weights_home))
    text = (pathlib.Path(float16_export["output"]) / "styles.json").read_text()
    manifest = json.loads(text)
    names = [entry["name"] for entry in manifest["styles"]]
    assert float16_export["styles"] == {"path": "styles.json", "count": len(names),
                                        "bytes": len(text.encode())}
    assert set(tuned_styles.builtin_names()) <= set(names) and len(names) >= 20
    assert manifest["norm_offsets"]["size"] == 694 == sum(
        2 * channels for _, channels in manifest["norm_offsets"]["layers"])
    with_offsets = 0
    for entry in manifest["styles"]:
        style = tuned_styles.style_for(entry["name"], store.DEFAULT_WEIGHTS)
        assert np.array_equal(np.asarray(entry["vector"], np.float32), style.vector)
        assert (entry["painting"], entry["painter"], entry["source"]) == tuple(
            style.record[key] for key in ("painting", "painter", "source"))
        flat = norm_params.flatten(style.norm_offsets, 0.25)
        if flat is None:
            assert entry["norm_offsets"] is None
            continue
        decoded = np.frombuffer(base64.b64decode(entry["norm_offsets"]), "<f2")
        assert np.array_equal(decoded.astype(np.float32), flat)  # float16, as stored: exact
        with_offsets += 1
    assert with_offsets >= 20


def weight_bytes(model, output):
    directory = pathlib.Path(output) / model["path"].rsplit("/", 1)[0]
    return sum((directory / f).stat().st_size for f in model["files"] if f.endswith(".bin"))


def test_uint8_quantizes_the_transfer_model_only(uint8_export, float16_export, inputs, node):
    input_path, _, expected = inputs
    models = uint8_export["models"]
    assert (models["predict"]["quantization"], models["transfer"]["quantization"]) == (
        "float16", "uint8")
    assert models["predict"]["bytes"] == float16_export["models"]["predict"]["bytes"]
    assert models["transfer"]["bytes"] < 0.8 * float16_export["models"]["transfer"]["bytes"]
    assert weight_bytes(models["transfer"], uint8_export["output"]) == pytest.approx(
        weight_bytes(float16_export["models"]["transfer"], float16_export["output"]) / 2,
        rel=0.01)
    output = run_node(node, pathlib.Path(uint8_export["output"]), input_path)
    assert cosine(output["style_vector"], expected["style_vector"]) > 0.9999
    # Measured: max 0.078 / mean 0.008 (stylized); 0.069 / 0.009 with the given vector.
    for name in ("stylized", "stylized_given_vector"):
        difference = np.abs(output[name] - expected[name])
        assert difference.max() < 0.15 and difference.mean() < 0.02


@pytest.fixture(scope="module")
def magenta_export(weights_home, tmp_path_factory, converter):
    """A float32 export in Magenta's layout, made by the command."""
    output = tmp_path_factory.mktemp("tfjs_magenta") / "magenta"
    result = run_command(["--output", output, "--layout", "magenta", "--quantization",
                          "float32"], weights_home, **{tfjs.CONVERTER_ENV: converter})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def as_vector(value):
    return np.asarray(value["data"], np.float32).reshape(-1)


def test_magenta_layout_runs_like_the_published_graphs(magenta_export, inputs, node):
    input_path, _, expected = inputs
    output = run_node(node, pathlib.Path(magenta_export["output"]), input_path)
    assert magenta_export["layout"] == "magenta"
    assert output["predict"] == {"inputs": ["Placeholder"],
                                 "outputs": ["mobilenet_conv/Conv/BiasAdd"]}
    assert output["transfer"] == {"inputs": ["Placeholder", "Placeholder_1"],
                                  "outputs": ["transformer/expand/conv3/conv/Sigmoid"]}
    # Positional predict(style), predict([content, vector]) and execute by signature name.
    assert output["style_vector"].shape == (1, 1, 100)
    output["style_vector"] = output["style_vector"].reshape(-1)
    assert max(max_differences(output, expected).values()) < 1e-4  # Measured ~5e-6.
    # The same graphs without their signatures, by node name (pre-signature TF.js code).
    bare = output["by_node_name"]
    assert bare["predict"] == output["predict"] and bare["transfer"] == output["transfer"]
    assert np.abs(as_vector(bare["style_vector"]) - expected["style_vector"]).max() < 1e-4
    stylized = as_vector(bare["stylized"]).reshape(expected["stylized"].shape)
    assert np.abs(stylized - expected["stylized"]).max() < 1e-4
    models = json.loads((pathlib.Path(magenta_export["output"]) / "export.json").read_text())[
        "models"]
    assert models["predict"]["outputs"] == {"mobilenet_conv/Conv/BiasAdd": {
        "shape": [None, 1, 1, 100], "dtype": "float32"}}
    assert models["transfer"]["inputs"]["Placeholder_1"]["shape"] == [None, 1, 1, 100]


def test_rename_io_nodes(tmp_path):
    model_json = tmp_path / "model.json"
    model_json.write_text(json.dumps({
        "signature": {"inputs": {"Placeholder": {"name": "placeholder:0"}},
                      "outputs": {"out/Sigmoid": {"name": "Identity:0"}}},
        "modelTopology": {"node": [
            {"name": "placeholder", "op": "Placeholder"},
            {"name": "a", "op": "Relu", "input": ["placeholder", "^placeholder"]},
            {"name": "Identity", "op": "Identity", "input": ["a:0"]},
            {"name": "b", "op": "Neg", "input": ["Identity:0"]}]}}))
    tfjs._rename_io_nodes(model_json)
    artifacts = json.loads(model_json.read_text())
    assert artifacts["signature"] == {"inputs": {"Placeholder": {"name": "Placeholder:0"}},
                                      "outputs": {"out/Sigmoid": {"name": "out/Sigmoid:0"}}}
    assert [(n["name"], n.get("input")) for n in artifacts["modelTopology"]["node"]] == [
        ("Placeholder", None), ("a", ["Placeholder", "^Placeholder"]),
        ("out/Sigmoid", ["a:0"]), ("b", ["out/Sigmoid:0"])]


def test_export_json_describes_the_files(float32_export, float16_export, uint8_export,
                                         weights_home, export_root):
    summaries = {"float32": float32_export, "float16": float16_export, "uint8": uint8_export}
    assert sorted(p.name for p in export_root.iterdir()) == [  # No staging directories left.
        "float16", "float32", "uint8"]
    for quantization, summary in summaries.items():
        output = export_root / quantization
        assert summary["output"] == str(output)
        manifest = json.loads((output / "export.json").read_text())
        assert manifest == {k: v for k, v in summary.items() if k != "output"}
        assert sorted(p.name for p in output.iterdir()) == [
            "export.json", "predict", "styles.json", "transfer", "transfer_tuned"]
        assert manifest["format"] == "arbitrary_style.tfjs" and manifest["format_version"] == 1
        assert manifest["quantization"] == quantization
        assert manifest["layout"] == "ours"
        assert manifest["converter"] == "tensorflowjs 4.22.0"
        assert manifest["source"]["backbone"] == "mobilenet_v2"
        assert manifest["source"]["alpha"] == 0.25
        assert (manifest["style_vector_size"], manifest["style_size"]) == (100, 256)
        models = manifest["models"]
        assert models["predict"]["inputs"] == {"style": {"shape": [None, None, None, 3],
                                                         "dtype": "float32"}}
        assert models["predict"]["outputs"] == {"style_vector": {"shape": [None, 100],
                                                                 "dtype": "float32"}}
        assert set(models["transfer"]["inputs"]) == {"content", "style_vector"}
        assert models["transfer"]["inputs"]["style_vector"]["shape"] == [None, 100]
        assert list(models["transfer"]["outputs"]) == ["stylized"]
        assert models["transfer_tuned"]["inputs"]["norm_offsets"]["shape"] == [None, 694]
        assert set(models["transfer_tuned"]["inputs"]) == {"content", "style_vector",
                                                           "norm_offsets"}
        assert models["transfer_tuned"]["quantization"] == models["transfer"]["quantization"]
        assert manifest["styles"]["path"] == "styles.json"
        for name, model in models.items():
            directory = output / name
            assert model["path"] == f"{name}/model.json"
            assert model["files"] == sorted(p.name for p in directory.iterdir())
            assert model["bytes"] == sum(p.stat().st_size for p in directory.iterdir())
            signature = json.loads((directory / "model.json").read_text())["signature"]
            assert set(signature["inputs"]) == set(model["inputs"])
            assert set(signature["outputs"]) == set(model["outputs"])
    assert float32_export["source"]["weights"] == "tests"
    assert float16_export["source"]["weights"] == str(
        weights_home / "weights" / "magenta-mobile")


def one_line_error(call):
    with pytest.raises(UserError) as error:
        call()
    assert "\n" not in str(error.value)
    return str(error.value)


def test_bad_arguments_are_one_line_errors(imported_model, tmp_path, monkeypatch):
    output = tmp_path / "new" / "out"
    export = tfjs.export_tfjs
    assert one_line_error(lambda: export(imported_model, output, quantization="int8")) == (
        "unknown quantization 'int8'; choose from float32, float16, uint8")
    missing = tmp_path / "venv" / "bin" / "python"
    assert one_line_error(lambda: export(imported_model, output, converter_python=missing)) == (
        f"no TF.js converter at {missing}; run `python -m export.tfjs --setup` (or set "
        f"ARBITRARY_STYLE_TFJS_PYTHON to a python with tensorflowjs==4.22.0)")
    monkeypatch.setenv(tfjs.CONVERTER_ENV, "/bin/false")
    assert one_line_error(lambda: export(imported_model, output)).startswith(
        "/bin/false cannot run the TF.js converter: (no output); run `python -m export.tfjs "
        "--setup`")
    (tmp_path / "file").write_text("not a directory")
    assert one_line_error(lambda: export(imported_model, tmp_path / "file")) == (
        f"{tmp_path / 'file'} exists and is not a directory")
    assert not (tmp_path / "new").exists()
    monkeypatch.delenv(tfjs.CONVERTER_ENV)  # The default venv under the empty test home.
    assert one_line_error(lambda: export(imported_model, output)).startswith(
        f"no TF.js converter at {tmp_path / 'empty_home' / 'tfjs-converter' / 'bin' / 'python'};")


@pytest.fixture
def fake_converter(tmp_path, monkeypatch):
    script = tmp_path / "fake" / "python"
    script.parent.mkdir()
    script.write_text(FAKE_CONVERTER)
    script.chmod(0o755)
    monkeypatch.setenv(tfjs.CONVERTER_ENV, str(script))
    return script


def test_failed_conversion_leaves_nothing(imported_model, tmp_path, fake_converter, monkeypatch):
    monkeypatch.setenv("FAKE_TFJS_FAIL", "transfer")  # After the predictor converted.
    work = tmp_path / "work"
    work.mkdir()
    assert one_line_error(lambda: tfjs.export_tfjs(imported_model, work / "new" / "out")) == (
        "TF.js conversion of transfer failed (exit status 3): ValueError: boom")
    assert list(work.iterdir()) == []

    monkeypatch.setenv("FAKE_TFJS_FAIL", "predict_style")
    existing = work / "existing"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    assert one_line_error(lambda: tfjs.export_tfjs(imported_model, existing, overwrite=True)) == (
        "TF.js conversion of predict_style failed (exit status 3): ValueError: boom")
    assert list(work.iterdir()) == [existing]
    assert [p.name for p in existing.iterdir()] == ["keep.txt"]


def test_existing_output_needs_overwrite(imported_model, tmp_path, fake_converter, monkeypatch):
    monkeypatch.setenv("FAKE_TFJS_FAIL", "none")
    output = tmp_path / "work" / "out"
    output.mkdir(parents=True)
    (output / "old.txt").write_text("old")
    assert one_line_error(lambda: tfjs.export_tfjs(imported_model, output)) == (
        f"{output} exists and is not empty (use --overwrite to replace it)")
    summary = tfjs.export_tfjs(imported_model, output, quantization="uint8", overwrite=True)
    assert sorted(p.name for p in output.iterdir()) == [
        "export.json", "predict", "styles.json", "transfer", "transfer_tuned"]
    assert summary["models"]["transfer"]["files"] == ["group1-shard1of1.bin", "model.json"]
    assert list(output.parent.iterdir()) == [output]  # No staging or old directories left.


def test_command_errors_are_one_line(tmp_path):
    missing = tmp_path / "none" / "python"
    for args, env, message in [
        (["--output", tmp_path / "out", "--quantization", "int4"], {},
         "unknown quantization 'int4'; choose from float32, float16, uint8"),
        (["--output", tmp_path / "out", "--layout", "tfhub"], {},
         "unknown layout 'tfhub'; choose from ours, magenta"),
        (["--output", tmp_path / "out"], {tfjs.CONVERTER_ENV: str(missing)},
         (f"no TF.js converter at {missing}; run `python -m export.tfjs --setup` (or set "
          "ARBITRARY_STYLE_TFJS_PYTHON to a python with tensorflowjs==4.22.0)")),
        (["--output", tmp_path / "out", "--layout", "magenta", "--styles", "@great-wave"], {},
         ("tuned styles need --layout ours (the magenta layout has no transfer_tuned model); "
          "pass --styles none")),
        (["--output", tmp_path / "out", "--styles", "@great-wave,@nope"], {},
         (f"no tuned style 'nope' (in {tmp_path / 'home' / 'styles'} or the built-ins); make "
          "one with: python -m arbitrary_style.styles tune STYLE_IMAGE --name nope")),
    ]:
        result = run_command(args, tmp_path / "home", **env)
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert errors == [f"error: {message}"]
    assert not (tmp_path / "out").exists()


def test_last_error_line():
    assert tfjs.last_error_line("noise\nTraceback (most recent call last):\n  File x\n"
                                "ValueError: bad signature\nI0000 log line\n") == (
        "ValueError: bad signature")
    assert tfjs.last_error_line("one\ntwo\n\n") == "two"
    assert tfjs.last_error_line("") == "(no output)"
    assert len(tfjs.last_error_line("KeyError: " + "x" * 1000)) == 300
