"""Tuned styles: the vector optimisation, Ctrl-C, the versioned store and the command.

The loss network is VGG-19 with random weights (nothing downloaded); images are small.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import keras
import numpy as np
import pytest

from arbitrary_style import image_io, tuned_styles
from arbitrary_style.errors import UserError
from arbitrary_style.losses import LossConfig, StyleLoss
from conftest import CONTENT_DIR, STYLE_DIR, default_sigint, load_rgb

SIZE = 64


@pytest.fixture(scope="module")
def loss():
    keras.utils.set_random_seed(0)
    return StyleLoss(LossConfig("vgg19"), weights=None)


@pytest.fixture(scope="module")
def images():
    contents = np.stack([load_rgb(CONTENT_DIR / name, SIZE)
                         for name in ("golden_gate_sq.jpg", "statue_of_liberty_sq.jpg")])
    return contents, load_rgb(STYLE_DIR / "Theo_van_Doesburg_sq.jpg", SIZE)


def test_tuning_lowers_the_loss_of_the_predicted_vector(imported_model, loss, images):
    contents, style = images
    vector, history = tuned_styles.tune_vector(imported_model, style, contents, loss=loss,
                                               steps=4, learning_rate=0.05)
    predicted = imported_model.predict_style(style)
    assert history[0] > min(history[1:])  # some update lowered the loss
    assert not np.allclose(vector, predicted)
    # The returned vector is the best one: its loss is the lowest recorded.
    targets = loss.targets(contents, [style], style_blend=[1.0])
    stylized = imported_model.transformer(contents, np.repeat(vector[None], 2, 0))
    np.testing.assert_allclose(float(loss.loss(stylized, targets)[0]), min(history),
                               rtol=1e-4)


def test_ctrl_c_keeps_the_best_vector_so_far(imported_model, loss, images):
    contents, style = images

    def stop_at_two(step, value):
        if step == 2:
            raise KeyboardInterrupt

    with pytest.raises(tuned_styles.Interrupted) as stopped:
        tuned_styles.tune_vector(imported_model, style, contents, loss=loss, steps=10,
                                 callback=stop_at_two)
    assert len(stopped.value.history) == 3 and stopped.value.best_vector.shape == (100,)


def test_store_is_versioned_and_checked(tmp_path):
    vector = np.linspace(-1, 1, 100)
    path = tuned_styles.save("mine", vector, weights="magenta-mobile", details={"steps": 3})
    assert json.loads(path.read_text())["format_version"] == tuned_styles.FORMAT_VERSION
    np.testing.assert_allclose(tuned_styles.vector_for("mine", "magenta-mobile"), vector,
                               rtol=1e-6)
    assert tuned_styles.names() == ["mine"]
    with pytest.raises(UserError, match="made for the weights 'magenta-mobile', not 'other'"):
        tuned_styles.vector_for("mine", "other")
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "format_version": 99}))
    with pytest.raises(UserError, match="format version 99"):
        tuned_styles.load("mine")
    path.write_text(json.dumps({**record, "vector": [1.0] * 99}))
    with pytest.raises(UserError, match="not 100 finite numbers"):
        tuned_styles.load("mine")
    tuned_styles.remove("mine")
    assert tuned_styles.names() == []
    with pytest.raises(UserError, match="no tuned style 'mine'"):
        tuned_styles.load("mine")
    with pytest.raises(UserError, match="not a valid style name"):
        tuned_styles.style_path("../escape")


def _styles_cli(*args, home):
    return subprocess.run([sys.executable, "-m", "arbitrary_style.styles", *args],
                          capture_output=True, text=True,
                          env={**os.environ, "ARBITRARY_STYLE_HOME": str(home)})


def test_tune_command_stores_a_style_list_and_remove(weights_home, tmp_path):
    contents = tmp_path / "contents"
    for name in ("golden_gate_sq.jpg", "statue_of_liberty_sq.jpg"):
        image_io.save_image(load_rgb(CONTENT_DIR / name, 48), contents / f"{name}.png")
    result = _styles_cli("tune", str(STYLE_DIR / "Camille_Mauclair.jpg"), "--name", "mauclair",
                         "--contents", str(contents), "--steps", "2", "--size", "48",
                         "--vgg_weights", "none", home=weights_home)
    assert result.returncode == 0, result.stderr
    record = tuned_styles_record(weights_home, "mauclair")
    assert record["weights"] == "magenta-mobile" and record["steps_done"] == 2
    assert record["loss_tuned"] <= record["loss_predicted"]
    result = _styles_cli("list", home=weights_home)
    assert result.stdout.startswith("@mauclair: weights=magenta-mobile")
    result = _styles_cli("tune", str(STYLE_DIR / "Camille_Mauclair.jpg"), "--name", "mauclair",
                         "--contents", str(contents), home=weights_home)
    assert result.returncode == 1 and "--force replaces it" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    result = _styles_cli("remove", "@mauclair", home=weights_home)
    assert result.returncode == 0 and not (weights_home / "styles" / "mauclair.json").exists()


def tuned_styles_record(home, name):
    return json.loads((home / "styles" / f"{name}.json").read_text())


def _stylize_cli(*args, home):
    return subprocess.run([sys.executable, "-m", "arbitrary_style.stylize", *args],
                          capture_output=True, text=True,
                          env={**os.environ, "ARBITRARY_STYLE_HOME": str(home)})


def test_stylize_takes_a_tuned_style_by_name(weights_home, imported_model, tmp_path,
                                             monkeypatch):
    monkeypatch.setenv("ARBITRARY_STYLE_HOME", str(weights_home))
    style_path = STYLE_DIR / "clouds-over-bor-1940_sq.jpg"
    vector = imported_model.predict_style(image_io.load_image(style_path))
    tuned_styles.save("clouds", vector, weights="magenta-mobile", details={})
    tuned_styles.save("flat", np.zeros(100), weights="magenta-mobile", details={})
    content = CONTENT_DIR / "golden_gate_sq.jpg"
    outputs = {}
    try:
        for name, styles in (("image", str(style_path)), ("tuned", "@clouds"),
                             ("flat", "@flat")):
            result = _stylize_cli("--content", str(content), "--styles", styles, "--output",
                                  str(tmp_path / f"{name}.png"), home=weights_home)
            assert result.returncode == 0, result.stderr
            outputs[name] = image_io.load_image(tmp_path / f"{name}.png")
        result = _stylize_cli("--content", str(content), "--styles", "@missing", "--output",
                              str(tmp_path / "x.png"), home=weights_home)
    finally:
        tuned_styles.remove("clouds")
        tuned_styles.remove("flat")
    assert result.returncode == 1 and "no tuned style 'missing'" in result.stderr
    assert np.abs(outputs["tuned"] - outputs["image"]).mean() < 1 / 255
    assert np.abs(outputs["flat"] - outputs["image"]).mean() > 10 / 255


def test_tune_command_ctrl_c_stores_the_best_so_far(weights_home, tmp_path):
    contents = tmp_path / "contents"
    image_io.save_image(load_rgb(CONTENT_DIR / "golden_gate_sq.jpg", 32), contents / "a.png")
    process = subprocess.Popen(
        [sys.executable, "-m", "arbitrary_style.styles", "tune",
         str(STYLE_DIR / "Camille_Mauclair.jpg"), "--name", "stopped", "--contents",
         str(contents), "--steps", "100000", "--size", "32", "--vgg_weights", "none"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "ARBITRARY_STYLE_HOME": str(weights_home)},
        preexec_fn=default_sigint)
    progress = []
    reader = threading.Thread(target=lambda: progress.extend(iter(
        lambda: process.stderr.read(1), "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    while "| 2/100000" not in "".join(progress) and process.poll() is None:
        assert time.monotonic() < deadline, "no progress after 120 s"
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    stdout = process.stdout.read()
    assert process.wait(timeout=120) == 130, "".join(progress)
    assert stdout.startswith("interrupted; saved stopped to ")
    record = tuned_styles_record(weights_home, "stopped")
    (weights_home / "styles" / "stopped.json").unlink()
    assert record["steps_done"] >= 2 and record["loss_tuned"] <= record["loss_predicted"]
