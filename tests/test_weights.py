"""The project's weights format, the importers and the download path, all offline."""

import functools
import hashlib
import http.server
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import zipfile

import numpy as np
import pytest
import tensorflow as tf

from arbitrary_style.errors import UserError
from arbitrary_style.model import ModelConfig, StyleModel
from arbitrary_style.weights import download, importers, registry, store

from conftest import CONTENT_DIR, PRETRAINED, STYLE_DIR, load_rgb

CONTENT = load_rgb(CONTENT_DIR / "golden_gate_sq.jpg", 64)
STYLE = load_rgb(STYLE_DIR / "Camille_Mauclair.jpg", 96)


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


def test_hub_saved_model_import(imported_model, tmp_path):
    save_hub_like_saved_model(magenta_tensors(imported_model), tmp_path / "module")
    model, _ = download.download("magenta-hub", url=str(tmp_path / "module"))
    np.testing.assert_allclose(outputs(model), outputs(imported_model), atol=1e-6)


@pytest.fixture
def served_checkpoint(imported_model, tmp_path):
    """(URL, sha256) of a Magenta-like checkpoint tarball served on loopback."""
    source = tmp_path / "arbitrary_style_transfer"
    source.mkdir()
    write_tf1_checkpoint(magenta_tensors(imported_model), source / "model.ckpt")
    served = tmp_path / "served"
    served.mkdir()
    tarball = served / "arbitrary_style_transfer.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(source, arcname="arbitrary_style_transfer")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield (f"http://127.0.0.1:{server.server_port}/{tarball.name}",
               hashlib.sha256(tarball.read_bytes()).hexdigest())
    finally:
        server.shutdown()
        server.server_close()


def test_checkpoint_tarball_download_verified(imported_model, served_checkpoint):
    """The real download path (streamed, sha256-checked, unpacked) against a loopback server."""
    url, digest = served_checkpoint
    model, source = download.download("magenta", url=url, sha256=digest, allow_http=True)
    np.testing.assert_allclose(outputs(model), outputs(imported_model), atol=1e-6)
    assert source == f"{url} sha256:{digest}"
    assert (store.home() / "downloads" / digest / "arbitrary_style_transfer").is_dir()
    with pytest.raises(UserError, match="cannot download"):
        download.download("magenta", url=url.replace("arbitrary", "missing"), sha256=digest,
                          allow_http=True)
    with pytest.raises(UserError, match="unknown weights source"):
        download.download("nonsense")


def test_download_refuses_a_wrong_digest_plain_http_and_unverified(served_checkpoint):
    url, digest = served_checkpoint
    wrong = "0" * 64
    with pytest.raises(UserError, match=f"has sha256 {digest}, expected {wrong}"):
        download.download("magenta", url=url, sha256=wrong, allow_http=True)
    downloads = store.home() / "downloads"
    assert list(downloads.iterdir()) == []  # Neither the archive nor its contents were kept.
    with pytest.raises(UserError, match="refusing plain http://"):
        download.download("magenta", url=url, sha256=digest)
    with pytest.raises(UserError, match="no known sha256.*--allow_unverified"):
        download.download("magenta", url=url, allow_http=True)
    _, source = download.download("magenta", url=url, allow_http=True, allow_unverified=True)
    assert source.endswith(f"sha256:{digest}")


def test_tfhub_handles_are_fetched_compressed():
    handle = registry.KNOWN_WEIGHTS["magenta-hub"].url
    assert download.archive_url(handle, "saved_model") == handle + "?tf-hub-format=compressed"
    url = registry.KNOWN_WEIGHTS["magenta"].url
    assert download.archive_url(url, "checkpoint") == url
    assert url.startswith("https://") and handle.startswith("https://")


@pytest.mark.parametrize("name", ["../../escape", "/some/dir", ".", "..", "a/b", ".hidden",
                                  "", "x" * 101, "a\x00b", "a b"])
def test_cache_names_cannot_escape_the_cache(name):
    with pytest.raises(UserError, match="not a valid weights name"):
        store.cache_dir(name)


@pytest.mark.parametrize("name", ["magenta-mobile", "my_style.v2", "A1"])
def test_plain_cache_names_are_accepted(name):
    assert store.cache_dir(name) == store.home() / "weights" / name


def test_cache_home_that_is_a_file_or_unwritable(imported_model, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("ARBITRARY_STYLE_HOME", str(tmp_path / "file"))
    with pytest.raises(UserError, match="is not a directory"):
        store.cached_names()
    # /proc refuses new entries even to root, so this is a real unwritable cache.
    monkeypatch.setenv("ARBITRARY_STYLE_HOME", "/proc/arbitrary_style_home")
    with pytest.raises(UserError, match="cannot write weights to /proc/arbitrary_style_home"):
        store.save_model(imported_model, store.cache_dir("x"))


def write_npz_with_entry(directory, name, shape, *, source):
    """Copies a weights directory, adding or replacing entry `name` by a header that claims
    `shape` float32 with no data behind it (a decompression bomb stand-in)."""
    shutil.copytree(source, directory)
    archive_path = directory / store.WEIGHTS_FILE
    with zipfile.ZipFile(archive_path) as archive:
        entries = {info.filename: archive.read(info) for info in archive.infolist()
                   if info.filename != f"{name}.npy"}
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": shape})
    entries[f"{name}.npy"] = header.getvalue()
    with zipfile.ZipFile(archive_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for filename, data in entries.items():
            archive.writestr(filename, data)


def test_npz_names_and_shapes_are_checked_before_decompressing(weights_home, tmp_path,
                                                               monkeypatch):
    source = weights_home / "weights" / store.DEFAULT_WEIGHTS
    kernel = "transformer/contract/conv1/kernel"
    write_npz_with_entry(tmp_path / "bomb", kernel, (50_000, 50_000), source=source)
    write_npz_with_entry(tmp_path / "extra", "huge", (4 * 2**30 // 4,), source=source)
    monkeypatch.setattr(np, "load", lambda *a, **k: pytest.fail("np.load ran before the check"))
    with pytest.raises(UserError, match=r"has shape \(50000, 50000\), the model expects"):
        store.load_model(tmp_path / "bomb")
    with pytest.raises(UserError, match="1 unexpected \\(e.g. 'huge'\\)"):
        store.load_model(tmp_path / "extra")


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


@pytest.mark.parametrize("args, message", [
    (("import", "--onnx", str(PRETRAINED), "--name", "../../escape"), "not a valid weights name"),
    (("import", "--onnx", str(PRETRAINED), "--name", ".", "--force"), "not a valid weights name"),
    (("import", "--onnx", str(PRETRAINED), "--name", "{victim}", "--force"),
     "not a valid weights name"),
    (("info", "../../x"), "not a valid cache name"),
    (("download", "magenta", "--url", "http://127.0.0.1:9/x.tar.gz"), "refusing plain http://"),
])
def test_weights_cli_refuses_names_and_urls_in_one_line(args, message, tmp_path):
    home = tmp_path / "a" / "b" / "home"
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")
    args = [arg.replace("{victim}", str(victim)) for arg in args]
    code, out, err = run_weights_cli(*args, home=home)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code != 0 and len(errors) == 1 and message in errors[0], err
    assert "Traceback" not in err
    assert not (tmp_path / "a").exists() and not (tmp_path / "escape").exists()
    assert (victim / "keep.txt").read_text() == "mine" and len(list(victim.iterdir())) == 1


@pytest.mark.parametrize("command", [("list",), ("import", "--onnx", str(PRETRAINED))])
def test_weights_cli_with_a_file_as_home(command, tmp_path):
    (tmp_path / "home").write_text("not a directory")
    code, _, err = run_weights_cli(*command, home=tmp_path / "home")
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code != 0 and len(errors) == 1 and "is not a directory" in errors[0], err
    assert (tmp_path / "home").read_text() == "not a directory"


def test_weights_list_marks_a_broken_entry_and_lists_the_others(tmp_path):
    """One entry's config.json is broken: it is marked, the others are listed (before: the
    whole listing failed)."""
    home = tmp_path / "home"
    for name, text in (("good", json.dumps({"format_version": store.FORMAT_VERSION,
                                            "backbone": "mobilenet_v2", "alpha": 0.25,
                                            "source": "test"})),
                       ("broken", "{broken")):
        (home / "weights" / name).mkdir(parents=True)
        (home / "weights" / name / store.CONFIG_FILE).write_text(text)
    code, out, err = run_weights_cli("list", home=home)
    assert code == 0 and "Traceback" not in err, err
    lines = out.splitlines()
    assert any(line.startswith("broken: BROKEN (") for line in lines), out
    assert "good: backbone=mobilenet_v2 alpha=0.25 source=test" in lines
