"""The light (onnxruntime) path agrees with the TensorFlow StyleModel and imports no TF."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from conftest import CONTENT_DIR, STYLE_DIR, image_paths, load_rgb


@pytest.fixture(scope="session")
def light_weights(weights_home):
    """The session cache's default weights, whose light graphs `weights_home` built."""
    from arbitrary_style.weights import store

    return weights_home / "weights" / store.DEFAULT_WEIGHTS


@pytest.fixture
def light_home(weights_home, monkeypatch):
    """Tests that look at the cache see the session's built graphs."""
    monkeypatch.setenv("ARBITRARY_STYLE_HOME", str(weights_home))


@pytest.fixture(scope="session")
def light_model(weights_home, light_weights):
    from arbitrary_style.backends import light

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ARBITRARY_STYLE_HOME", str(weights_home))
        return light.load_built(light_weights)


def _cosine(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


@pytest.mark.parametrize("height,width", [(384, 384), (301, 457)])
def test_stylize_agrees_with_tensorflow(imported_model, light_model, height, width):
    from PIL import Image

    content = load_rgb(image_paths(CONTENT_DIR)[0])
    content = np.asarray(Image.fromarray((content * 255).astype(np.uint8)).resize(
        (width, height), Image.BILINEAR), np.float32) / 255
    vector = imported_model.predict_style(load_rgb(image_paths(STYLE_DIR)[0]))
    for preserve in (False, True):
        expected = imported_model.stylize(content, vector, preserve_colors=preserve)
        got = light_model.stylize(content, vector, preserve_colors=preserve)
        assert got.shape == expected.shape == (height, width, 3)
        assert np.abs(got - expected).mean() <= 1e-3


def test_batch_matches_single_images(light_model, imported_model):
    contents = np.stack([load_rgb(p)[:40, :52] for p in image_paths(CONTENT_DIR)[:2]])
    vectors = imported_model.predict_style(np.stack([load_rgb(p, 64) for p in
                                                     image_paths(STYLE_DIR)[:2]]))
    batch = light_model.stylize(contents, vectors)
    assert batch.shape == contents.shape
    for content, vector, out in zip(contents, vectors, batch, strict=True):
        np.testing.assert_allclose(out, light_model.stylize(content, vector), atol=1e-5)
        assert np.abs(out - imported_model.stylize(content, vector)).mean() <= 1e-3


@pytest.fixture(scope="module")
def float64_transformer(imported_model):
    """The same transformer (same weights) computing in float64: a reference for the
    float32 paths' rounding."""
    import keras
    import tensorflow as tf

    from arbitrary_style.transformer import StyleTransferNetwork

    keras.config.set_dtype_policy("float64")
    try:
        transformer = StyleTransferNetwork(imported_model.config.alpha)
        transformer(tf.zeros([1, 16, 16, 3], tf.float64), tf.zeros([1, 100], tf.float64))
    finally:
        keras.config.set_dtype_policy("float32")
    weights = {v.path: v.numpy() for v in imported_model.transformer.weights}
    for variable in transformer.weights:
        variable.assign(weights[variable.path].astype(np.float64))
    return transformer


@pytest.mark.parametrize("height,width", [(512, 512), (257, 301)])
def test_light_graph_is_within_1e5_of_the_network_in_float64(light_model, float64_transformer,
                                                              height, width):
    """The light graph (NCHW, fused instance norms, its own padding) against the exact
    network: measured 1.6e-6 at 512 px, 1.0e-6 at 257x301 (TensorFlow's float32 path:
    1.7e-5, 2.9e-6)."""
    import tensorflow as tf

    content = load_rgb(image_paths(CONTENT_DIR)[0])
    content = tf.image.resize(content, (height, width)).numpy()
    vector = np.random.default_rng(0).normal(0, 0.3, 100).astype(np.float32)
    exact = float64_transformer(tf.constant(content[None], tf.float64),
                                tf.constant(vector[None], tf.float64), training=False)
    difference = np.abs(light_model.stylize(content, vector) - exact.numpy()[0])
    assert difference.max() <= 1e-5 and difference.mean() <= 1e-6


def test_a_batch_runs_as_concurrent_single_threaded_runs(light_weights, light_home):
    """A batch (video frames) on several threads runs each image on a single-threaded
    session, concurrently: the same images as one at a time; one thread: no second
    session."""
    from arbitrary_style.backends import light

    rng = np.random.default_rng(0)
    contents = rng.random((3, 40, 52, 3), np.float32)
    vectors = rng.normal(0, 0.3, (3, 100)).astype(np.float32)
    two, one = (light.load_built(light_weights, threads) for threads in (2, 1))
    batch = two.stylize(contents, vectors)
    assert "transfer_single" in two._sessions
    alone = np.stack([two.stylize(c, v) for c, v in zip(contents, vectors, strict=True)])
    np.testing.assert_allclose(batch, alone, atol=1e-6)
    np.testing.assert_allclose(one.stylize(contents, vectors), alone, atol=1e-6)
    assert "transfer_single" not in one._sessions


@pytest.mark.parametrize("size", [256, 123])
def test_style_vector_cosine(imported_model, light_model, size):
    style = load_rgb(image_paths(STYLE_DIR)[1], 400)[:, :300]  # resized and aspect-cropped
    assert _cosine(light_model.predict_style(style, size),
                   imported_model.predict_style(style, size)) >= 0.9999


def test_resize_matches_tensorflow():
    """The one resize both paths use (Pillow) against tf.image.resize(antialias=True)."""
    import tensorflow as tf

    from arbitrary_style import image_io

    style = load_rgb(image_paths(STYLE_DIR)[1], 200)[:, :150]
    for size, expected_shape in ((64, (85, 64)), (300, (400, 300))):
        expected = tf.image.resize(style, expected_shape, antialias=True).numpy()
        got = image_io.resize_short_side(style, size)
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() < 1e-4


def test_import_does_not_load_tensorflow():
    code = ("import sys, arbitrary_style.backends.light; "
            "sys.exit('tensorflow' in sys.modules or 'keras' in sys.modules)")
    root = pathlib.Path(__file__).resolve().parents[1]
    assert subprocess.run([sys.executable, "-c", code], cwd=root).returncode == 0


def test_cache_reused_and_keyed_by_weights(light_home, light_weights, tmp_path):
    import shutil

    from arbitrary_style.backends import light, light_graphs

    built = light_graphs.graphs_dir(light_weights)
    stamp = (built / "transfer.onnx").stat().st_mtime_ns
    assert light_graphs.build_graphs(light_weights) == built
    assert (built / "transfer.onnx").stat().st_mtime_ns == stamp
    changed = tmp_path / "changed"
    shutil.copytree(light_weights, changed)
    with np.load(changed / "weights.npz") as archive:
        arrays = dict(archive)
    name = sorted(arrays)[0]
    arrays[name] = arrays[name] + 1e-3
    np.savez(changed / "weights.npz", **arrays)
    assert light_graphs.graphs_dir(changed) != built
    assert light.load_built(changed) is None


def test_auto_falls_back_to_tensorflow_when_graphs_cannot_be_built(weights_home, light_weights,
                                                                   tmp_path, monkeypatch):
    from arbitrary_style import backends
    from arbitrary_style.backends import light, light_graphs
    from arbitrary_style.errors import UserError
    from arbitrary_style.model import StyleModel

    monkeypatch.setenv("ARBITRARY_STYLE_HOME", str(tmp_path / "fresh"))  # no graphs cached

    def unwritable(weights_dir, model=None):
        raise UserError("cannot write the light graphs")

    monkeypatch.setattr(light_graphs, "build_graphs", unwritable)
    assert isinstance(backends.load(light_weights, "auto"), StyleModel)
    with pytest.raises(UserError, match="cannot write the light graphs"):
        backends.load(light_weights, "light")
    monkeypatch.setenv("ARBITRARY_STYLE_HOME", str(weights_home))  # the session's graphs
    assert isinstance(backends.load(light_weights, "auto"), light.LightModel)
    assert isinstance(backends.load(light_weights, "tensorflow"), StyleModel)


def test_build_command_prints_the_graph_directory(weights_home, light_weights):
    """`python -m arbitrary_style.backends build NAME` builds (here: finds) the graphs and
    prints where they are; a wrong command is one error line."""
    from arbitrary_style.backends import light_graphs

    env = {**os.environ, "ARBITRARY_STYLE_HOME": str(weights_home)}
    result = subprocess.run([sys.executable, "-m", "arbitrary_style.backends", "build",
                             str(light_weights)], capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ARBITRARY_STYLE_HOME", str(weights_home))
        assert result.stdout.strip() == str(light_graphs.graphs_dir(light_weights))
    wrong = subprocess.run([sys.executable, "-m", "arbitrary_style.backends", "make"],
                           capture_output=True, text=True, env=env, timeout=300)
    assert wrong.returncode == 1 and wrong.stderr.startswith("error: give the command: build")


def test_each_registered_backend_loads_and_names_itself(light_home, light_weights):
    """`--backend NAME` loads the backend that `--json` then reports as NAME, and each keeps
    the Backend contract; an unknown name is a one-line error naming the choices."""
    from arbitrary_style import backends
    from arbitrary_style.errors import UserError

    assert backends.CHOICES == ("auto", *backends.REGISTRY) == ("auto", "light", "tensorflow")
    for name in backends.REGISTRY:
        model = backends.load(light_weights, name)
        assert model.backend == name and isinstance(model, backends.Backend)
    with pytest.raises(UserError, match="unknown backend 'onnx'; choose one of auto, light"):
        backends.load(light_weights, "onnx")


def test_predictor_session_skips_arena_and_layout_rewrite_transfer_keeps_both(light_model):
    """The session options: the predictor (run once per style) keeps neither a memory arena
    nor the NCHWc layout rewrite (its weight copies), the transfer graph keeps both. What
    that saves and costs is measured by benchmarks (BUILD_NOTES, issue 9), not here."""
    from onnxruntime import GraphOptimizationLevel

    predict = light_model._sessions["predict"].get_session_options()
    transfer = light_model._sessions["transfer"].get_session_options()
    assert not predict.enable_cpu_mem_arena
    assert predict.graph_optimization_level == GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    assert transfer.enable_cpu_mem_arena
    assert transfer.graph_optimization_level == GraphOptimizationLevel.ORT_ENABLE_ALL


@pytest.mark.parametrize("height,width", [(256, 256), (257, 301), (97, 1030)])
def test_plain_graph_agrees_with_the_moments_graph_and_keras(imported_model, light_model,
                                                             height, width):
    """The plain transfer graph (NCHW, InstanceNormalization, padding inside) computes what
    the moments graph (the NHWC conversion, given no moments) and the Keras model do, at
    sizes that are and are not multiples of 4: mean difference within 1e-5, largest within
    1e-4 (float32 rounding through 13 normalisations: the NHWC conversion itself is up to
    3.4e-5 from Keras at these sizes; BUILD_NOTES, issue 26)."""
    rng = np.random.default_rng(height * width)
    content = rng.random((height, width, 3), np.float32)
    vector = imported_model.predict_style(load_rgb(image_paths(STYLE_DIR)[0]))
    plain = light_model.stylize(content, vector)
    converted, _ = light_model.stylize_with_moments(content, vector, None)
    keras = imported_model.stylize(content, vector)
    assert plain.shape == converted.shape == keras.shape == (height, width, 3)
    for other in (converted, keras):
        assert np.abs(plain - other).mean() <= 1e-5
        assert np.abs(plain - other).max() <= 1e-4


def test_plain_graph_has_no_layout_flips_and_one_op_per_instance_norm(light_weights,
                                                                     light_home):
    """Two transposes of the 3-channel image (in and out), none between layers; each of the
    13 conditional instance norms is one InstanceNormalization, no pooled moments."""
    import collections

    import onnx

    from arbitrary_style.backends import light_graphs

    directory = light_graphs.built_graphs_dir(light_weights)
    ops = collections.Counter(node.op_type for node in
                              onnx.load(str(directory / "transfer.onnx")).graph.node)
    assert ops["InstanceNormalization"] == 13
    assert ops["GlobalAveragePool"] == ops["ReduceMean"] == ops["Tile"] == 0
    transposes = [node for node in onnx.load(str(directory / "transfer.onnx")).graph.node
                  if node.op_type == "Transpose"]
    assert len([t for t in transposes if list(t.attribute)]) <= 2


def test_plain_stylize_does_not_load_the_moments_graph(light_weights, light_home):
    from arbitrary_style.backends import light

    model = light.load_built(light_weights)
    model.stylize(np.full((32, 40, 3), 0.5, np.float32), np.zeros(100, np.float32))
    assert "moments" not in model._sessions
    assert model.moments_size == 694 and "moments" not in model._sessions  # From the plain one.
    model.instance_moments(np.full((32, 40, 3), 0.5, np.float32), np.zeros(100, np.float32))
    assert "moments" in model._sessions
