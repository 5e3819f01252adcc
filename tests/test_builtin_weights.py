"""The built-in default weights: exact, reproducible from the ONNX pair, used with no setup."""

import os
import subprocess
import sys

import numpy as np

from arbitrary_style.weights import builtin, onnx_import, store

from conftest import CONTENT_DIR, PRETRAINED, STYLE_DIR


def test_packed_tensors_equal_the_onnx_pair():
    expected = {}
    for name in builtin.ONNX_FILES:
        expected.update(onnx_import.read_onnx_weights(PRETRAINED / name))
    packed = builtin.read_packed()
    assert list(packed) == list(expected)
    for name, array in expected.items():
        assert packed[name].dtype == array.dtype and np.array_equal(packed[name], array), name


def test_builtin_model_is_bit_identical_to_the_onnx_import(imported_model):
    model = builtin.builtin_model()
    assert model.config == imported_model.config
    expected = imported_model.variables
    assert set(model.variables) == set(expected)
    for path, variable in model.variables.items():
        assert np.array_equal(variable.numpy(), expected[path].numpy()), path


def test_committed_file_is_what_the_script_makes(tmp_path):
    result = subprocess.run([sys.executable, "tools/pack_builtin_weights.py", str(PRETRAINED),
                             str(tmp_path / "packed.npz")], capture_output=True, text=True,
                            timeout=300, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert result.returncode == 0, result.stderr
    committed = builtin.packed_path().read_bytes()
    assert (tmp_path / "packed.npz").read_bytes() == committed
    assert len(committed) < 4 * 2**20


def test_stylize_with_no_cache_and_no_import(tmp_path):
    """A fresh user: empty cache, nothing imported; the built-in weights are used."""
    home = tmp_path / "fresh_home"
    result = subprocess.run(
        [sys.executable, "-m", "arbitrary_style.stylize",
         "--content", str(CONTENT_DIR / "golden_gate_sq.jpg"),
         "--styles", str(STYLE_DIR / "La_forma.jpg"), "--content_size", "64",
         "--backend", "tensorflow", "--output", str(tmp_path / "out.png")],
        env={**os.environ, "ARBITRARY_STYLE_HOME": str(home)}, capture_output=True, text=True,
        timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.png").is_file()
    config, raw = store.read_config(home / "weights" / store.DEFAULT_WEIGHTS)
    assert raw["source"] == "builtin:magenta-mobile" and config.alpha == 0.25
