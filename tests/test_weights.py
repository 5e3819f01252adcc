"""The project's weights format, the importers and the download path, all offline."""

import functools
import http.server
import json
import os
import subprocess
import sys
import tarfile
import threading

import numpy as np
import pytest
import tensorflow as tf

from arbitrary_style.errors import UserError
from arbitrary_style.model import ModelConfig, StyleModel
from arbitrary_style.weights import download, importers, store

from conftest import CONTENT_DIR, PRETRAINED, STYLE_DIR, load_rgb

CONTENT = load_rgb(CONTENT_DIR / "golden_gate_sq.jpg", 64)
STYLE = load_rgb(STYLE_DIR / "La_forma.jpg", 96)


def outputs(model):
    return model.stylize(CONTENT, model.predict_style(STYLE))


def magenta_tensors(model):
    """The model's variables under Magenta's TF1 names and HWIO layout, as a checkpoint has them."""
    tensors = {}
    for path, variable in model.variables.items():
        scope, leaf = path.rsplit("/", 1)
        if "/StyleNorm/" in path:
            scope = "style_params/" + scope
        if leaf == "kernel":
            leaf = "depthwise_weights" if scope.endswith("/depthwise") else "weights"
        elif leaf == "bias":
            leaf = "biases"
        array = variable.numpy()
        tensors[f"{scope}/{leaf}"] = array.reshape(1, 1, *array.shape) if array.ndim == 2 else array
    return tensors


def write_tf1_checkpoint(tensors, prefix):
    """A name-based (TF1 Saver style) checkpoint, with the extras a training run leaves."""
    extras = {"global_step": np.array(1000, np.int64),
              "vgg_16/conv1/conv1_1/weights": np.zeros((3, 3, 3, 64), np.float32),
              "transformer/contract/conv1/weights/Adam": np.zeros((9, 9, 3, 8), np.float32)}
    everything = {**tensors, **extras}
    names = sorted(everything)
    tf.raw_ops.SaveV2(prefix=str(prefix), tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(everything[n]) for n in names])


def test_save_load_round_trip(imported_model, tmp_path):
    target = tmp_path / "weights" / "mine"
    store.save_model(imported_model, target, source="test")
    config = json.loads((target / store.CONFIG_FILE).read_text())
    assert config == {"format_version": 1, "backbone": "mobilenet_v2", "alpha": 0.25,
                      "source": "test"}
    loaded = store.load_model(target)
    assert loaded.config == imported_model.config
    for path, variable in imported_model.variables.items():
        np.testing.assert_array_equal(loaded.variables[path].numpy(), variable.numpy())
    np.testing.assert_array_equal(outputs(loaded), outputs(imported_model))
    # Saving again replaces the directory whole and leaves no staging directories.
    store.save_model(loaded, target, source="again")
    assert json.loads((target / store.CONFIG_FILE).read_text())["source"] == "again"
    assert sorted(p.name for p in target.parent.iterdir()) == ["mine"]


@pytest.fixture(scope="module")
def saved_dir(imported_model, tmp_path_factory):
    directory = tmp_path_factory.mktemp("saved") / "magenta-mobile"
    store.save_model(imported_model, directory)
    return directory


def copy_with(saved_dir, tmp_path, config_changes=None, arrays=None):
    target = tmp_path / "edited"
    target.mkdir()
    config = json.loads((saved_dir / store.CONFIG_FILE).read_text())
    (target / store.CONFIG_FILE).write_text(json.dumps({**config, **(config_changes or {})}))
    with np.load(saved_dir / store.WEIGHTS_FILE) as archive:
        contents = {k: archive[k] for k in archive.files}
    np.savez(target / store.WEIGHTS_FILE, **(arrays(contents) if arrays else contents))
    return target


def test_expected_config_mismatch_is_named(saved_dir):
    with pytest.raises(UserError, match="backbone=mobilenet_v2 alpha=0.25.*not backbone="
                                        "inception_v3 alpha=1.0"):
        store.load_model(saved_dir, expected_config=ModelConfig("inception_v3", 1.0))


@pytest.mark.parametrize("config_changes,arrays,message", [
    ({"alpha": 1.0}, None, r"'transformer/contract/conv1/kernel' has shape \(9, 9, 3, 8\), "
                           r"the model expects \(9, 9, 3, 32\)"),
    ({"backbone": "inception_v3"}, None, "does not fit a backbone=inception_v3.*missing.*"
                                         "unexpected"),
    ({"format_version": 7}, None, "format version 7"),
    ({"backbone": "vgg"}, None, "not a valid weights config.*unknown backbone"),
    (None, lambda a: {k: v for k, v in a.items() if "residual2" not in k}, "missing"),
    (None, lambda a: {**a, "extra/kernel": np.zeros(3)}, "1 unexpected.*'extra/kernel'"),
])
def test_mismatched_weights_are_rejected(saved_dir, tmp_path, config_changes, arrays, message):
    directory = copy_with(saved_dir, tmp_path, config_changes, arrays)
    with pytest.raises(UserError, match=message):
        store.load_model(directory)


def test_unreadable_weights_are_rejected(saved_dir, tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        store.load_model(tmp_path / "nowhere")
    with pytest.raises(UserError, match="not an arbitrary_style weights directory"):
        store.load_model(tmp_path)
    broken = copy_with(saved_dir, tmp_path)
    data = (broken / store.WEIGHTS_FILE).read_bytes()
    (broken / store.WEIGHTS_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="cannot read"):
        store.load_model(broken)


def test_load_pretrained_reads_the_cache(weights_home, monkeypatch, imported_model):
    import arbitrary_style

    monkeypatch.setenv("ARBITRARY_STYLE_HOME", str(weights_home))
    np.testing.assert_array_equal(outputs(arbitrary_style.load_pretrained()),
                                  outputs(imported_model))


def test_resolve_weights_names_the_command_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("ARBITRARY_STYLE_HOME", str(tmp_path))
    with pytest.raises(UserError, match="python -m arbitrary_style.weights import --onnx"):
        store.resolve_weights()
    with pytest.raises(UserError, match="download magenta"):
        store.resolve_weights("magenta")


def test_tf1_checkpoint_import(imported_model, tmp_path):
    write_tf1_checkpoint(magenta_tensors(imported_model), tmp_path / "model.ckpt")
    model = importers.import_checkpoint(tmp_path / "model.ckpt")
    assert model.config == imported_model.config
    np.testing.assert_allclose(outputs(model), outputs(imported_model), atol=1e-6)
    # A directory holding one checkpoint works too.
    assert importers.import_checkpoint(tmp_path).config == imported_model.config


@pytest.fixture(scope="module")
def paper_model():
    """An Inception-v3 / alpha 1.0 model (the paper's) with random weights."""
    return StyleModel(ModelConfig("inception_v3", 1.0))


def test_tf1_checkpoint_of_the_paper_model(paper_model, tmp_path):
    write_tf1_checkpoint(magenta_tensors(paper_model), tmp_path / "model.ckpt")
    model = importers.import_checkpoint(tmp_path / "model.ckpt")
    assert model.config == ModelConfig("inception_v3", 1.0)
    np.testing.assert_allclose(outputs(model), outputs(paper_model), atol=1e-5)


def test_checkpoint_errors(imported_model, tmp_path):
    with pytest.raises(UserError, match="cannot read TF checkpoint"):
        importers.import_checkpoint(tmp_path / "missing.ckpt")
    tensors = magenta_tensors(imported_model)
    del tensors["transformer/residual/residual1/conv1/weights"]
    write_tf1_checkpoint(tensors, tmp_path / "partial.ckpt")
    with pytest.raises(UserError, match="lack 1 of the model's variables"):
        importers.import_checkpoint(tmp_path / "partial.ckpt")


def test_onnx_import_rejects_non_onnx(tmp_path):
    (tmp_path / "arbitrary_predict.onnx").write_text("not onnx")
    (tmp_path / "arbitrary_transform.onnx").write_bytes((PRETRAINED / "arbitrary_transform.onnx")
                                                        .read_bytes())
    with pytest.raises(UserError, match="cannot read ONNX file"):
        importers.import_onnx_dir(tmp_path)
    with pytest.raises(UserError, match="does not exist"):
        importers.import_onnx_dir(tmp_path / "nothing")


def save_hub_like_saved_model(tensors, directory):
    """A SavedModel with TF1-named `variables`, saved as Magenta's export_hub.py does."""
    module = tf.train.Checkpoint()
    module.variables = [tf.Variable(value, name=name) for name, value in tensors.items()]
    tf.saved_model.save(module, str(directory))


def test_hub_saved_model_import(imported_model, tmp_path, monkeypatch):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "hub_cache"))
    save_hub_like_saved_model(magenta_tensors(imported_model), tmp_path / "module")
    model = download.download("magenta-hub", url=str(tmp_path / "module"))
    np.testing.assert_allclose(outputs(model), outputs(imported_model), atol=1e-6)


def test_checkpoint_tarball_download_over_http(imported_model, tmp_path, monkeypatch):
    """The real download path (tensorflow_hub.resolve over HTTP) against a loopback server."""
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "hub_cache"))
    source = tmp_path / "arbitrary_style_transfer"
    source.mkdir()
    write_tf1_checkpoint(magenta_tensors(imported_model), source / "model.ckpt")
    served = tmp_path / "served"
    served.mkdir()
    with tarfile.open(served / "arbitrary_style_transfer.tar.gz", "w:gz") as archive:
        archive.add(source, arcname="arbitrary_style_transfer")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/arbitrary_style_transfer.tar.gz"
        model = download.download("magenta", url=url)
        with pytest.raises(UserError, match="cannot download"):
            download.download("magenta", url=url.replace("arbitrary", "missing"))
    finally:
        server.shutdown()
        server.server_close()
    np.testing.assert_allclose(outputs(model), outputs(imported_model), atol=1e-6)
    with pytest.raises(UserError, match="unknown weights source"):
        download.download("nonsense")


def run_weights_cli(*args, home):
    result = subprocess.run([sys.executable, "-m", "arbitrary_style.weights", *args],
                            env={**os.environ, "ARBITRARY_STYLE_HOME": str(home)},
                            capture_output=True, text=True, timeout=300)
    return result.returncode, result.stdout, result.stderr


def test_weights_cli(tmp_path, imported_model):
    home = tmp_path / "home"
    code, out, _ = run_weights_cli("import", "--onnx", str(PRETRAINED), home=home)
    assert code == 0 and "saved mobilenet_v2 alpha=0.25" in out
    loaded = store.load_model(home / "weights" / store.DEFAULT_WEIGHTS)
    np.testing.assert_array_equal(outputs(loaded), outputs(imported_model))
    code, out, _ = run_weights_cli("import", "--onnx", str(PRETRAINED), home=home)
    assert code == 0 and "already in the cache" in out
    write_tf1_checkpoint(magenta_tensors(imported_model), tmp_path / "model.ckpt")
    code, out, _ = run_weights_cli("import", "--checkpoint", str(tmp_path / "model.ckpt"),
                                   "--name", "from-ckpt", home=home)
    assert code == 0, out
    code, out, _ = run_weights_cli("list", home=home)
    assert "magenta-mobile (default): backbone=mobilenet_v2 alpha=0.25" in out
    assert "from-ckpt: backbone=mobilenet_v2" in out
    code, out, _ = run_weights_cli("info", "from-ckpt", home=home)
    assert json.loads(out)["backbone"] == "mobilenet_v2"
    code, out, err = run_weights_cli("import", "--onnx", str(tmp_path / "nothing"), "--name", "x",
                                     home=home)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code != 0 and len(errors) == 1 and "does not exist" in errors[0]
    assert "Traceback" not in err and not (home / "weights" / "x").exists()
    code, out, _ = run_weights_cli("--help", home=home)
    assert code == 0 and "--onnx" in out and "download" in out
