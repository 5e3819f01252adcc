"""The built-in default weights: exact, reproducible from the ONNX pair, ready to run with no
setup (their light graphs ship in the package and compute what the float graphs compute)."""

import collections
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from arbitrary_style.backends import light, light_graphs
from arbitrary_style.weights import builtin, graph_weights, onnx_import, store

from conftest import CONTENT_DIR, PRETRAINED, STYLE_DIR, load_rgb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_packed_tensors_equal_the_onnx_pair():
    expected = {}
    for name in builtin.ONNX_FILES:
        expected.update(onnx_import.read_onnx_weights(PRETRAINED / name))
    packed = builtin.read_packed()
    assert list(packed) == list(expected)
    for name, array in expected.items():
        assert packed[name].dtype == array.dtype and np.array_equal(packed[name], array), name


def test_builtin_model_is_bit_identical_to_the_onnx_import(imported_model):
    model = store.load_model(builtin.directory())
    assert model.config == imported_model.config
    expected = imported_model.variables
    assert set(model.variables) == set(expected)
    for path, variable in model.variables.items():
        assert np.array_equal(variable.numpy(), expected[path].numpy()), path


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    """The built-in directory as tools/pack_builtin_weights.py makes it now."""
    out = tmp_path_factory.mktemp("builtin") / "magenta-mobile"
    result = subprocess.run([sys.executable, "tools/pack_builtin_weights.py", str(PRETRAINED),
                             str(out)], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return out


def test_committed_weights_and_config_are_what_the_script_makes(regenerated):
    committed = builtin.directory()
    assert (regenerated / "packed.npz").read_bytes() == builtin.packed_path().read_bytes()
    assert (json.loads((regenerated / "config.json").read_text())
            == json.loads((committed / "config.json").read_text()))
    total = sum(path.stat().st_size for path in committed.iterdir())
    assert total <= 8 * 2**20, f"the built-in model's files take {total} bytes"


def _graph_summary(path):
    """What a graph computes with, independent of tf2onnx's node naming (which changes from
    run to run): its op types with their counts, and its initializers' contents."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    initializers = sorted((str(array.dtype), array.shape, array.tobytes()) for array in
                          map(numpy_helper.to_array, graph.initializer))
    return collections.Counter(node.op_type for node in graph.node), initializers


@pytest.mark.parametrize("name", sorted(light_graphs.GRAPH_FILES.values()))
def test_committed_graphs_are_what_the_script_makes(regenerated, name):
    """The shipped graphs cannot drift from the Keras model: regenerated, they hold the same
    ops and the same int8 weights (and compute the same, next test)."""
    ops, initializers = _graph_summary(builtin.directory() / name)
    assert _graph_summary(regenerated / name) == (ops, initializers)
    assert ops["DequantizeLinear"] >= (100 if name == "predict.onnx" else 60)


@pytest.mark.parametrize("name", sorted(light_graphs.GRAPH_FILES.values()))
def test_every_weight_in_the_graphs_is_int8(name):
    """No float initializer is left that a packed int8 tensor could stand for (only derived
    constants stay float: the output conv's block kernel, the one-hot depth-to-space)."""
    import onnx

    model = onnx.load(str(builtin.directory() / name))
    assert graph_weights.quantize_initializers(model, builtin.read_tensors()) == 0


@pytest.fixture(scope="module")
def builtin_light():
    return light.load_built(builtin.directory())


@pytest.fixture(scope="module")
def float_light(weights_home):
    """The light graphs built from the Keras model of the same weights (float weights)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ARBITRARY_STYLE_HOME", str(weights_home))
        return light.load_built(weights_home / "weights" / store.DEFAULT_WEIGHTS)


@pytest.mark.parametrize("height,width", [(256, 256), (301, 457), (97, 64)])
def test_shipped_graphs_compute_bit_for_bit_what_the_float_graphs_do(
        builtin_light, float_light, height, width):
    rng = np.random.default_rng(height)
    style = load_rgb(STYLE_DIR / "Camille_Mauclair.jpg")
    vector = builtin_light.predict_style(style)
    assert np.array_equal(vector, float_light.predict_style(style))
    content = rng.random((height, width, 3), np.float32)
    moments = rng.random(builtin_light.moments_size, np.float32)
    for kwargs in ({}, {"moments": moments, "moments_weight": 0.5}):
        got = builtin_light.stylize_with_moments(content, vector, **kwargs)
        expected = float_light.stylize_with_moments(content, vector, **kwargs)
        for a, b in zip(got, expected, strict=True):
            assert np.array_equal(a, b)


def test_first_stylize_builds_and_writes_nothing(tmp_path):
    """A fresh user: empty cache, default (light) backend: the package's graphs run as they
    are; the cache is not even created."""
    home = tmp_path / "fresh_home"
    result = subprocess.run(
        [sys.executable, "-m", "arbitrary_style.stylize",
         "--content", str(CONTENT_DIR / "golden_gate_sq.jpg"),
         "--styles", str(STYLE_DIR / "Camille_Mauclair.jpg"), "--content_size", "64",
         "--output", str(tmp_path / "out.png"), "--json"],
        env={**os.environ, "ARBITRARY_STYLE_HOME": str(home)}, capture_output=True, text=True,
        timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.png").is_file()
    assert "building" not in result.stderr
    assert json.loads(result.stdout)["weights"] == str(builtin.directory())
    assert not home.exists()


def test_tensorflow_backend_uses_the_packed_weights(tmp_path):
    home = tmp_path / "fresh_home"
    result = subprocess.run(
        [sys.executable, "-m", "arbitrary_style.stylize",
         "--content", str(CONTENT_DIR / "golden_gate_sq.jpg"),
         "--styles", str(STYLE_DIR / "Camille_Mauclair.jpg"), "--content_size", "64",
         "--backend", "tensorflow", "--output", str(tmp_path / "out.png")],
        env={**os.environ, "ARBITRARY_STYLE_HOME": str(home)}, capture_output=True, text=True,
        timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.png").is_file()
    assert not home.exists()


def test_a_cached_copy_of_the_builtin_weights_is_passed_over(tmp_path, monkeypatch):
    """Older versions wrote the built-in weights into the cache; the package's are used."""
    monkeypatch.setenv("ARBITRARY_STYLE_HOME", str(tmp_path))
    stale = store.cache_dir(store.DEFAULT_WEIGHTS)
    stale.mkdir(parents=True)
    (stale / "config.json").write_text(json.dumps(
        {"format_version": 1, "backbone": "mobilenet_v2", "alpha": 0.25,
         "source": builtin.SOURCE}))
    assert store.resolve_weights(None) == builtin.directory()
    (stale / "config.json").write_text(json.dumps(
        {"format_version": 1, "backbone": "mobilenet_v2", "alpha": 0.25, "source": "onnx:x"}))
    assert store.resolve_weights(None) == stale
