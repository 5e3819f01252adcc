"""Tests of the TFLite exporter (`export/tflite.py`) on the real pretrained mobile model.

The exported models run in `tf.lite.Interpreter` and are compared with the Keras
networks on a sample content/style pair that int8 was not calibrated on. Sizes are
small (128) to keep conversion fast; the command's defaults stay 384 and 256.
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.lite.python import schema_py_generated as model_fb
from conftest import CONTENT_DIR, STYLE_DIR, image_paths, load_rgb, user_environment

from arbitrary_style.errors import UserError
from export import tflite, tflite_metadata
from export.tflite_support_schema import metadata_schema_py_generated as metadata_fb

SIZE = 128
CONTENT = CONTENT_DIR / "golden_gate_sq.jpg"
STYLE = STYLE_DIR / "Camille_Mauclair.jpg"
# int8's worst held-out style before its norms were kept float (0.056 at 384 px).
HARD_STYLE = STYLE_DIR / "pink_zigzag.jpg"
# int8 is calibrated without the test pairs: the other contents, the other styles.
CALIBRATION_CONTENTS = [p for p in image_paths(CONTENT_DIR) if p != CONTENT]
CALIBRATION_STYLES = [p for p in image_paths(STYLE_DIR) if p not in (STYLE, HARD_STYLE)]


@pytest.fixture(scope="module")
def exported(imported_model, tmp_path_factory):
    """(output dir, summary) of a float16 + int8 export at SIZE."""
    output_dir = tmp_path_factory.mktemp("tflite") / "models"
    summary = tflite.export_tflite(
        imported_model, output_dir, ["float16", "int8"], style_size=SIZE, content_size=SIZE,
        calibration_images=[load_rgb(p) for p in CALIBRATION_CONTENTS],
        calibration_styles=[load_rgb(p) for p in CALIBRATION_STYLES])
    return output_dir, summary


@pytest.fixture(scope="module")
def reference(imported_model):
    """The Keras networks' style vector [100] and stylized image on the test pair."""
    content, style = load_rgb(CONTENT, SIZE), load_rgb(STYLE, SIZE)
    vector = imported_model.predict_style(style, size=None)
    return content, style, vector, imported_model.stylize(content, vector)


def run_exported(output_dir, quantization, content, style):
    """The exported models' style vector [100] and stylized image [H,W,3], chained."""
    predict = tflite.TFLiteModel(output_dir / f"predict_{quantization}.tflite", num_threads=2)
    transfer = tflite.TFLiteModel(output_dir / f"transfer_{quantization}.tflite", num_threads=2)
    vector = predict(style_image=style[None])
    assert vector.shape == (1, 1, 1, 100)
    stylized = transfer(content_image=content[None], style_vector=vector)
    return vector.reshape(100), stylized[0]


def cosine(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_export_writes_the_files_it_reports(exported):
    output_dir, summary = exported
    names = {f"{model}_{q}.tflite" for model in ("predict", "transfer")
             for q in ("float16", "int8")}
    assert {p.name for p in output_dir.iterdir()} == names  # No temporary files left.
    assert {f["file"]: f["bytes"] for f in summary["files"]} == {
        name: (output_dir / name).stat().st_size for name in names}
    transfer = tflite.TFLiteModel(output_dir / "transfer_int8.tflite")
    assert transfer.input_shapes == {"content_image": (1, SIZE, SIZE, 3),
                                     "style_vector": (1, 1, 1, 100)}
    with pytest.raises(ValueError):  # Fixed shapes: nothing is resized.
        transfer(content_image=np.zeros((1, SIZE + 4, SIZE, 3)),
                 style_vector=np.zeros((1, 1, 1, 100)))


def test_float16_matches_keras(exported, reference):
    content, style, vector, stylized = reference
    assert np.abs(stylized - content).mean() > 0.1  # The comparison means something.
    tflite_vector, tflite_stylized = run_exported(exported[0], "float16", content, style)
    assert cosine(tflite_vector, vector) > 0.999
    assert np.abs(tflite_stylized - stylized).mean() < 0.01


def test_int8_is_close_and_smaller(exported, reference, imported_model):
    output_dir, summary = exported
    content, style, vector, stylized = reference
    tflite_vector, tflite_stylized = run_exported(output_dir, "int8", content, style)
    # Issue 10's goal: mean abs difference <= 0.05 on held-out styles (content-only
    # calibration gave 0.13 with a red cast on La_forma). Published int8: 0.046+.
    assert cosine(tflite_vector, vector) > 0.99
    assert np.abs(tflite_stylized - stylized).mean() < 0.05
    hard_style = load_rgb(HARD_STYLE, SIZE)
    hard_stylized = imported_model.stylize(content, imported_model.predict_style(hard_style,
                                                                                 size=None))
    assert np.abs(hard_stylized - stylized).mean() > 0.05  # Another style indeed.
    assert np.abs(run_exported(output_dir, "int8", content, hard_style)[1]
                  - hard_stylized).mean() < 0.05
    sizes = {(f["model"], f["quantization"]): f["bytes"] for f in summary["files"]}
    for model in ("predict", "transfer"):
        assert sizes[model, "int8"] < 0.7 * sizes[model, "float16"]


def test_int8_transfer_keeps_the_norms_float(exported):
    interpreter = tflite.TFLiteModel(exported[0] / "transfer_int8.tflite").interpreter
    tensor_types = {t["index"]: t["dtype"] for t in interpreter.get_tensor_details()}
    input_types = {}
    for op in interpreter._get_ops_details():  # pylint: disable=protected-access
        input_types.setdefault(op["op_name"], set()).add(tensor_types[op["inputs"][0]])
    assert input_types["CONV_2D"] == {np.int8}
    for name in tflite.TRANSFER_FLOAT_OPS:
        assert input_types[name] == {np.float32}, name
    assert "QUANTIZE" in input_types and "DEQUANTIZE" in input_types


def read_metadata(data):
    """The TFLITE_METADATA of .tflite bytes, parsed with TFLite's model schema and the official
    metadata schema's generated reader: (ModelMetadataT, number of TFLITE_METADATA entries)."""
    model = model_fb.Model.GetRootAs(data, 0)
    entries = [model.Metadata(i) for i in range(model.MetadataLength())
               if model.Metadata(i).Name() == b"TFLITE_METADATA"]
    buffer = model.Buffers(entries[0].Buffer()).DataAsNumpy().tobytes()
    assert metadata_fb.ModelMetadata.ModelMetadataBufferHasIdentifier(buffer, 0)
    return (metadata_fb.ModelMetadataT.InitFromObj(metadata_fb.ModelMetadata.GetRootAs(buffer, 0)),
            len(entries))


def input_names_by_index(path):
    """The signature's input names in the order of the interpreter's input indices."""
    interpreter = tflite.TFLiteModel(path).interpreter
    names = {detail["index"]: name for name, detail in
             interpreter.get_signature_runner().get_input_details().items()}
    return [names[detail["index"]] for detail in interpreter.get_input_details()]


def test_metadata_names_and_normalization(exported):
    output_dir, _ = exported
    expected = {"predict": (["style_image"], ["style_vector"]),
                "transfer": (["content_image", "style_vector"], ["stylized_image"])}
    for model_name, (inputs, outputs) in expected.items():
        for quantization in ("float16", "int8"):
            path = output_dir / f"{model_name}_{quantization}.tflite"
            assert input_names_by_index(path) == inputs  # The order clients read by index.
            metadata, entries = read_metadata(path.read_bytes())
            assert entries == 1 and metadata.minParserVersion == b"1.0.0"
            assert metadata.name.decode().startswith(f"arbitrary_style {model_name} (mobilenet")
            (subgraph,) = metadata.subgraphMetadata
            tensors = subgraph.inputTensorMetadata + subgraph.outputTensorMetadata
            assert [t.name.decode() for t in subgraph.inputTensorMetadata] == inputs
            assert [t.name.decode() for t in subgraph.outputTensorMetadata] == outputs
            for tensor in tensors:
                assert tensor.description
                image = tensor.name.decode() != "style_vector"
                properties = tensor.content.contentProperties
                if image:
                    assert tensor.content.contentPropertiesType == (
                        metadata_fb.ContentProperties.ImageProperties)
                    assert properties.colorSpace == metadata_fb.ColorSpaceType.RGB
                    assert (list(tensor.stats.min), list(tensor.stats.max)) == ([0.0], [1.0])
                else:
                    assert tensor.content.contentPropertiesType == (
                        metadata_fb.ContentProperties.FeatureProperties)
                    assert tensor.processUnits is None
            for tensor in subgraph.inputTensorMetadata:
                if tensor.name != b"style_vector":  # Pixels 0..255 -> (x - 0) / 255.
                    (unit,) = tensor.processUnits
                    assert unit.optionsType == metadata_fb.ProcessUnitOptions.NormalizationOptions
                    assert (list(unit.options.mean), list(unit.options.std)) == ([0.0], [255.0])
            assert all(t.processUnits is None for t in subgraph.outputTensorMetadata)


def test_metadata_leaves_the_model_as_it_was(imported_model, tmp_path):
    networks = tflite._Networks(imported_model, 32, 32)
    raw = tflite._convert(networks, networks.transfer, "float32")
    once = tflite.with_metadata(raw, "transfer", imported_model.config)
    twice = tflite_metadata.attach(once, tflite_metadata.model_metadata(
        "other", "replaced", [("a", "x", True), ("b", "y", False)], [("c", "z", True)],
        version="0", author="test"))
    assert read_metadata(twice)[1] == 1 and read_metadata(twice)[0].name == b"other"
    rng = np.random.default_rng(0)
    content = rng.random((1, 32, 32, 3), dtype=np.float32)
    vector = rng.standard_normal((1, 1, 1, 100)).astype(np.float32)
    results = []
    for data in (raw, once, twice):
        path = tmp_path / f"model_{len(results)}.tflite"
        path.write_bytes(data)
        results.append(tflite.TFLiteModel(path)(content_image=content, style_vector=vector))
    assert np.array_equal(results[0], results[1]) and np.array_equal(results[0], results[2])


@pytest.mark.parametrize("arguments, message", [
    ({"quantizations": ["int4"]}, "unknown quantization int4"),
    ({"quantizations": [" , "]}, "unknown quantization (none given)"),
    ({"content_size": 130}, "--content_size must be a multiple of 4"),
    ({"content_size": 0}, "--content_size must be a multiple of 4"),
    ({"style_size": 0}, "--style_size must be positive"),
    ({"quantizations": ["float16,int8"]}, "int8 quantization needs calibration images"),
    ({"quantizations": ["int8"], "calibration_images": [np.zeros((8, 8, 3), np.float32)]},
     "int8 quantization needs calibration style images (--calibration_styles"),
])
def test_bad_arguments_are_one_line_errors(imported_model, tmp_path, arguments, message):
    with pytest.raises(UserError, match="^" + message.replace("(", r"\(").replace(")", r"\)")) \
            as error:
        tflite.export_tflite(imported_model, tmp_path / "out", **arguments)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "out").exists()


def test_calibration_sources(tmp_path):
    assert tflite.find_images([str(STYLE_DIR / "*_sq.jpg"), str(CONTENT)]) == [
        *sorted(STYLE_DIR.glob("*_sq.jpg")), CONTENT]
    (tmp_path / "notes.txt").write_text("not an image")
    for source in (tmp_path, tmp_path / "*.jpg", tmp_path / "missing.jpg"):
        with pytest.raises(UserError, match="no image files found"):
            tflite.find_images([str(source)])


def test_output_dir_that_is_a_file(imported_model, tmp_path):
    (tmp_path / "out").write_text("a file")
    with pytest.raises(UserError, match="exists and is not a directory"):
        tflite.export_tflite(imported_model, tmp_path / "out", ["float16"])


def test_failed_conversion_leaves_nothing(imported_model, tmp_path, monkeypatch):
    convert = tf.lite.TFLiteConverter.convert
    calls = []

    def fail_second(self):
        calls.append(self)
        if len(calls) == 2:
            raise RuntimeError("converter failed")
        return convert(self)

    monkeypatch.setattr(tf.lite.TFLiteConverter, "convert", fail_second)
    with pytest.raises(RuntimeError, match="converter failed"):
        tflite.export_tflite(imported_model, tmp_path / "new" / "out", ["float32"],
                             style_size=32, content_size=32)
    assert len(calls) == 2 and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("existing", [False, True])
def test_failed_write_leaves_nothing(imported_model, tmp_path, monkeypatch, existing):
    output_dir = tmp_path / "out"
    if existing:
        output_dir.mkdir()
        (output_dir / "keep.txt").write_text("mine")
    monkeypatch.setattr(tflite, "_convert", lambda *args: b"model bytes")
    monkeypatch.setattr(tflite, "with_metadata", lambda data, *args: data)
    replace, calls = os.replace, []

    def fail_third(source, target):
        calls.append(target)
        if len(calls) == 3:
            raise OSError("disk full")
        replace(source, target)

    monkeypatch.setattr(os, "replace", fail_third)
    with pytest.raises(OSError, match="disk full"):
        tflite.export_tflite(imported_model, output_dir, ["float32", "float16"],
                             style_size=32, content_size=32)
    assert len(calls) == 3
    if existing:
        assert [p.name for p in output_dir.iterdir()] == ["keep.txt"]
    else:
        assert not output_dir.exists()


def run_cli(args, home, cwd):
    return subprocess.run([sys.executable, "-m", "export.tflite", *map(str, args)],
                          cwd=cwd, env=user_environment(ARBITRARY_STYLE_HOME=str(home)),
                          capture_output=True, text=True, timeout=300, check=False)


def test_command_exports_float16(weights_home, tmp_path, reference):
    repository = pathlib.Path(tflite.__file__).resolve().parents[1]
    output_dir = tmp_path / "models"
    result = run_cli(["--output_dir", output_dir, "--quantization", "float16",
                      "--style_size", SIZE, "--content_size", SIZE], weights_home, repository)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # No TensorFlow or converter log lines.
    summary = json.loads(result.stdout)
    assert [(f["file"], f["bytes"]) for f in summary["files"]] == [
        (name, (output_dir / name).stat().st_size)
        for name in ("predict_float16.tflite", "transfer_float16.tflite")]
    content, style, vector, stylized = reference
    tflite_vector, tflite_stylized = run_exported(output_dir, "float16", content, style)
    assert cosine(tflite_vector, vector) > 0.999
    assert np.abs(tflite_stylized - stylized).mean() < 0.01

    bad = run_cli(["--output_dir", output_dir, "--calibration_images", tmp_path / "none"],
                  weights_home, repository)
    errors = [line for line in bad.stderr.splitlines() if line.startswith("error:")]
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert errors == [f"error: calibration source {tmp_path / 'none'}: no image files found"]
    bad = run_cli(["--output_dir", output_dir, "--calibration_images", CONTENT_DIR],
                  weights_home, repository)  # Default float16,int8 without styles.
    assert bad.returncode == 1 and bad.stderr.splitlines()[-1].startswith(
        "error: int8 quantization needs calibration style images (--calibration_styles")


def test_command_exports_int8_with_calibration_styles(weights_home, tmp_path):
    repository = pathlib.Path(tflite.__file__).resolve().parents[1]
    result = run_cli(["--output_dir", tmp_path, "--quantization", "int8", "--style_size", 32,
                      "--content_size", 32, "--calibration_images", CONTENT_DIR,
                      "--calibration_styles", STYLE_DIR, "--num_calibration", 2],
                     weights_home, repository)
    assert result.returncode == 0 and result.stderr == "", result.stderr[-2000:]
    summary = json.loads(result.stdout)
    assert len(summary["calibration_images"]) == len(summary["calibration_styles"]) == 2
    assert all(pathlib.Path(p).parent == STYLE_DIR for p in summary["calibration_styles"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predict_int8.tflite",
                                                          "transfer_int8.tflite"]
