"""SavedModel and TF-Hub exports, reloaded the way their users load them."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_hub as hub

from arbitrary_style.errors import UserError
from export.hub import export_hub_module
from export.saved_model import export_saved_model

from conftest import CONTENT_DIR, STYLE_DIR, load_rgb, user_environment

CONTENTS = np.stack([load_rgb(CONTENT_DIR / "golden_gate_sq.jpg", 98),
                     load_rgb(CONTENT_DIR / "eiffel_tower.jpg", 98)])[:, :, :75]  # 98x75
STYLES = np.stack([load_rgb(STYLE_DIR / "Camille_Mauclair.jpg", 128),
                   load_rgb(STYLE_DIR / "pink_zigzag.jpg", 128)])


@pytest.fixture(scope="module")
def saved_model_dir(imported_model, tmp_path_factory):
    return export_saved_model(imported_model, tmp_path_factory.mktemp("export") / "saved_model")


@pytest.fixture(scope="module")
def hub_dir(imported_model, tmp_path_factory):
    return export_hub_module(imported_model, tmp_path_factory.mktemp("export") / "hub")


def test_every_signature_matches_the_library(imported_model, saved_model_dir):
    loaded = tf.saved_model.load(str(saved_model_dir))
    assert set(loaded.signatures) == {"serving_default", "stylize", "predict_style", "transfer"}
    vectors = imported_model.predict_style(STYLES, size=None)
    expected = imported_model.stylize(CONTENTS, vectors)
    predicted = loaded.signatures["predict_style"](style=tf.constant(STYLES))["style_vector"]
    np.testing.assert_allclose(predicted.numpy(), vectors, atol=1e-5)
    stylized = loaded.signatures["stylize"](content=tf.constant(CONTENTS),
                                            style=tf.constant(STYLES))["stylized"].numpy()
    assert stylized.shape == (2, 98, 75, 3)  # any size, not only multiples of 4
    np.testing.assert_allclose(stylized, expected, atol=1e-4)
    transferred = loaded.signatures["transfer"](content=tf.constant(CONTENTS),
                                                style_vector=tf.constant(vectors))["stylized"]
    np.testing.assert_allclose(transferred.numpy(), expected, atol=1e-4)
    # One style for the whole batch, at another size.
    one = loaded.stylize(tf.constant(CONTENTS[:, :64, :64]), tf.constant(STYLES[:1]))["stylized"]
    np.testing.assert_allclose(
        one.numpy(), imported_model.stylize(CONTENTS[:, :64, :64], vectors[0]), atol=1e-4)
    assert loaded.backbone.numpy() == b"mobilenet_v2" and loaded.alpha.numpy() == 0.25


def test_hub_module_is_used_like_magentas(imported_model, hub_dir):
    content, style = CONTENTS[:1], STYLES[:1]
    expected = imported_model.stylize(content, imported_model.predict_style(style, size=None))
    module = hub.load(str(hub_dir))
    stylized = module(tf.constant(content), tf.constant(style))[0]
    np.testing.assert_allclose(stylized.numpy(), expected, atol=1e-4)
    # TF Serving clients of the published module: its serving_default names, exactly.
    serving = module.signatures["serving_default"]
    assert set(serving.structured_input_signature[1]) == {"placeholder", "placeholder_1"}
    assert list(serving.structured_outputs) == ["output_0"]
    served = serving(placeholder=tf.constant(CONTENTS), placeholder_1=tf.constant(STYLES))
    np.testing.assert_allclose(served["output_0"].numpy(), imported_model.stylize(
        CONTENTS, imported_model.predict_style(STYLES, size=None)), atol=1e-4)
    assert set(module.signatures) == {"serving_default", "stylize", "predict_style", "transfer"}
    assert np.abs(expected - content).mean() > 0.05  # a real stylization, not the content

    import tf_keras  # hub.KerasLayer is a tf_keras layer.

    content_input = tf_keras.Input((None, None, 3))
    style_input = tf_keras.Input((None, None, 3))
    layer = hub.KerasLayer(str(hub_dir))
    keras_model = tf_keras.Model([content_input, style_input],
                                 layer([content_input, style_input])[0])
    np.testing.assert_allclose(keras_model.predict([content, style], verbose=0), expected,
                               atol=1e-4)


def test_existing_output_is_not_replaced_without_overwrite(imported_model, tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty"):
        export_saved_model(imported_model, target)
    assert (target / "keep.txt").read_text() == "mine"
    export_saved_model(imported_model, target, overwrite=True)
    assert (target / "saved_model.pb").is_file() and not (target / "keep.txt").exists()


def test_a_failed_export_leaves_nothing_behind(imported_model, tmp_path, monkeypatch):
    def failing_save(module, path, signatures=None):
        os.makedirs(path, exist_ok=True)  # TF accepts an existing directory.
        open(os.path.join(path, "saved_model.pb"), "w").write("partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(tf.saved_model, "save", failing_save)
    with pytest.raises(RuntimeError, match="disk full"):
        export_hub_module(imported_model, tmp_path / "hub")
    assert list(tmp_path.iterdir()) == []


def run(module, *args, home):
    result = subprocess.run([sys.executable, "-m", module, *map(str, args)],
                            env=user_environment(ARBITRARY_STYLE_HOME=str(home)),
                            capture_output=True, text=True, timeout=300)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    return result, errors


def test_command_lines(weights_home, tmp_path):
    for module in ("export.hub", "export.saved_model"):
        output = tmp_path / module
        result, errors = run(module, "--output", output, home=weights_home)
        assert result.returncode == 0 and not errors, result.stderr[-2000:]
        assert (output / "saved_model.pb").is_file()
        assert result.stdout == f"wrote {output}\n" and result.stderr == ""  # Only our line.
    result, errors = run("export.saved_model", "--weights", tmp_path / "nowhere", "--output",
                         tmp_path / "sm", home=weights_home)
    assert result.returncode != 0 and len(errors) == 1 and "nowhere" in errors[0]
    assert "Traceback" not in result.stderr and not (tmp_path / "sm").exists()
    result, errors = run("export.saved_model", home=weights_home)
    assert result.returncode != 0 and errors == ["error: --output is required (see --help)"]
