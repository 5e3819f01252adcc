"""Tuned styles: the vector optimisation, Ctrl-C, the versioned store and the command.

The loss network is VGG-19 with random weights (nothing downloaded); images are small.
"""

import contextlib
import json
import os
import pathlib
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
    np.testing.assert_allclose(tuned_styles.style_for("mine", "magenta-mobile").vector,
                               vector, rtol=1e-6)
    assert tuned_styles.names() == ["mine"]
    with pytest.raises(UserError, match="made for the weights 'magenta-mobile', not 'other'"):
        tuned_styles.style_for("mine", "other")
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
                         "--contents", str(contents), "--steps", "2", "--norm_steps", "0",
                         "--size", "48", "--vgg_weights", "none", home=weights_home)
    assert result.returncode == 0, result.stderr
    record = tuned_styles_record(weights_home, "mauclair")
    assert record["weights"] == "magenta-mobile" and record["steps_done"] == 2
    assert record["zoomed_crops"] == tuned_styles.DEFAULT_ZOOMED_CROPS == 2
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
         str(contents), "--steps", "100000", "--norm_steps", "0", "--size", "32",
         "--vgg_weights", "none"],
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


# --- Issue 23, second part: the content bound, per-layer norms, built-ins, the sheet. ---


def cin_biases(transformer):
    """{layer key: (beta head bias, gamma head bias)} (Keras variables) of a transformer,
    keyed as norm offsets are, from its variables' paths."""
    from arbitrary_style.layers import ConditionalInstanceNorm

    prefix, suffix = "transformer/", "/StyleNorm/Conv/bias"
    biases = {}
    for layer in transformer._flatten_layers():
        if isinstance(layer, ConditionalInstanceNorm):
            path = layer.beta_head.bias.path
            assert path.startswith(prefix) and path.endswith(suffix), path
            biases[path[len(prefix):-len(suffix)]] = (layer.beta_head.bias,
                                                     layer.gamma_head.bias)
    return biases


@contextlib.contextmanager
def biases_shifted(model, offsets):
    """Within: `offsets` ({layer: (beta, gamma)}) added to the CIN layers' bias variables:
    an independent reference for the networks' norm offsets input."""
    biases = cin_biases(model.transformer)
    saved = {key: (beta.numpy(), gamma.numpy()) for key, (beta, gamma) in biases.items()}
    try:
        for key, (beta, gamma) in biases.items():
            beta.assign(saved[key][0] + np.asarray(offsets[key][0], np.float32))
            gamma.assign(saved[key][1] + np.asarray(offsets[key][1], np.float32))
        yield
    finally:
        for key, (beta, gamma) in biases.items():
            beta.assign(saved[key][0])
            gamma.assign(saved[key][1])


def _losses(model, loss, contents, style, vector, offsets=None):
    """(content, style) of `loss` for the vector (and offsets, through the transformer's
    norm offsets input) on the contents."""
    from arbitrary_style import norm_params
    from arbitrary_style.layers import NormInputs

    targets = loss.targets(contents, [style], style_blend=[1.0])
    norm = None if offsets is None else NormInputs(offsets=np.repeat(
        norm_params.flatten(offsets, model.config.alpha)[None], len(contents), 0))
    stylized = model.transformer(contents, np.repeat(vector[None], len(contents), 0),
                                 norm=norm)
    parts = loss.loss(stylized, targets)[1]
    return float(parts["content"]), float(parts["style"])


def test_tune_keeps_the_best_step_within_the_content_bound(imported_model, loss, images):
    contents, style = images
    result = tuned_styles.tune(imported_model, style, contents, loss=loss, steps=6,
                               norm_steps=0, learning_rate=0.5, max_content_ratio=1.02)
    first, best = result.history[0], result.history[result.best]
    # With this large a step the content loss leaves the bound (the bound is exercised)...
    assert max(entry["content"] for entry in result.history) > 1.02 * first["content"]
    # ...and the kept step is inside it, with a lower style loss, or the predicted vector.
    assert best["content"] <= 1.02 * first["content"]
    assert result.best == 0 or best["style"] < first["style"]
    assert all(result.history[i]["total"] >= best["total"] for i in range(len(result.history))
               if result.history[i]["eligible"])
    content, style_loss = _losses(imported_model, loss, contents, style, result.vector)
    np.testing.assert_allclose([content, style_loss], [best["content"], best["style"]],
                               rtol=1e-3)
    # Without the bound the lowest objective is kept, wherever its content loss is.
    free = tuned_styles.tune(imported_model, style, contents, loss=loss, steps=6,
                             norm_steps=0, learning_rate=0.5, max_content_ratio=float("inf"))
    assert free.history[free.best]["total"] == min(e["total"] for e in free.history)


def test_tuning_slides_along_the_content_bound(imported_model, loss, images):
    """Once the content loss reaches its bound, the walk goes on along it: the style loss
    keeps falling at a content loss held just under the bound (rejecting each step past it
    stalled the walk where the bound first bound)."""
    contents, style = images
    bound = 1.02
    result = tuned_styles.tune(imported_model, style, contents, loss=loss, steps=2,
                               norm_steps=14, max_content_ratio=bound)
    history, first = result.history, result.history[0]
    ratios = [entry["content"] / first["content"] for entry in history]
    aim = 1 + tuned_styles.BOUND_AIM * (bound - 1)
    reached = next(i for i, ratio in enumerate(ratios) if ratio >= aim - 1e-3)
    assert reached < len(history) - 4  # The bound binds well before the end...
    late = ratios[-5:]  # ...and the walk then stays on it, not under it or past it.
    assert sum(aim - 0.005 <= ratio <= bound for ratio in late) >= 4
    assert result.best == len(history) - 1  # The last step is the best...
    # ...well below the style loss where the bound was reached.
    assert history[result.best]["style"] < 0.95 * history[reached]["style"]
    measured = _losses(imported_model, loss, contents, style, result.vector,
                       result.norm_offsets)
    np.testing.assert_allclose(measured, [history[-1]["content"], history[-1]["style"]],
                               rtol=1e-3)


def test_norm_stage_tunes_per_layer_offsets_and_leaves_the_model_as_it_was(
        imported_model, loss, images):
    contents, style = images
    before = {key: (b.numpy(), g.numpy())
              for key, (b, g) in cin_biases(imported_model.transformer).items()}
    result = tuned_styles.tune(imported_model, style, contents, loss=loss, steps=2,
                               norm_steps=4, norm_learning_rate=0.05,
                               max_content_ratio=float("inf"))
    after = cin_biases(imported_model.transformer)
    for key, (beta, gamma) in after.items():  # The model is as it was.
        np.testing.assert_array_equal(beta.numpy(), before[key][0])
        np.testing.assert_array_equal(gamma.numpy(), before[key][1])
    stages = [entry["stage"] for entry in result.history]
    assert stages == ["vector"] * 3 + ["norm"] * 4
    vector_best = min(e["total"] for e in result.history if e["stage"] == "vector")
    assert result.history[result.best]["stage"] == "norm"
    assert result.history[result.best]["total"] < vector_best
    assert set(result.norm_offsets) == set(before) and len(before) == 13
    assert any(np.abs(b).max() > 0 for b, _ in result.norm_offsets.values())
    # The offsets reproduce the recorded losses when applied.
    best = result.history[result.best]
    measured = _losses(imported_model, loss, contents, style, result.vector,
                       result.norm_offsets)
    np.testing.assert_allclose(measured, [best["content"], best["style"]], rtol=1e-3)
    assert not np.allclose(
        measured, _losses(imported_model, loss, contents, style, result.vector), rtol=1e-3)


def test_norm_offsets_input_equals_shifted_biases_on_both_backends(imported_model, images):
    """The networks' norm offsets input (TensorFlow and the light graphs) computes what
    adding the offsets to the CIN layers' biases computes; zeros are the vector alone."""
    from arbitrary_style import backends, norm_params
    from arbitrary_style.weights import builtin

    contents, style = images
    content = contents[0][:62, :58]  # Odd sizes: the light graph pads and crops itself.
    vector = imported_model.predict_style(style)
    rng = np.random.default_rng(0)
    offsets = {key: (rng.normal(0, 0.2, b.shape).astype(np.float32),
                     rng.normal(0, 0.2, g.shape).astype(np.float32))
               for key, (b, g) in cin_biases(imported_model.transformer).items()}
    with biases_shifted(imported_model, offsets):
        expected = imported_model.stylize(content, vector)
        expected_tiles = imported_model.stylize_with_moments(content, vector)
    plain = imported_model.stylize(content, vector)
    assert np.abs(expected - plain).mean() > 2 / 255
    flat = norm_params.flatten(offsets, imported_model.config.alpha)
    unflattened = norm_params.unflatten(flat, imported_model.config.alpha)
    assert unflattened.keys() == offsets.keys()
    for key, (beta, gamma) in offsets.items():
        np.testing.assert_array_equal(unflattened[key][0], beta)
        np.testing.assert_array_equal(unflattened[key][1], gamma)
    light = backends.load(builtin.directory(), "light")  # The imported weights, int8.
    for model, atol in ((imported_model, 1e-5), (light, 1e-4)):
        np.testing.assert_allclose(model.stylize(content, vector, norm_offsets=flat),
                                   expected, atol=atol)
        stylized, own = model.stylize_with_moments(content, vector, norm_offsets=flat)
        np.testing.assert_allclose(stylized, expected_tiles[0], atol=atol)
        np.testing.assert_allclose(own, expected_tiles[1], atol=atol)
        np.testing.assert_allclose(model.instance_moments(content, vector, norm_offsets=flat),
                                   expected_tiles[1], atol=atol)
        np.testing.assert_allclose(
            model.stylize(content, vector, norm_offsets=np.zeros_like(flat)),
            model.stylize(content, vector), atol=1e-6)
    bad = dict(offsets)
    bad.pop("expand/conv3/conv")
    with pytest.raises(UserError, match="do not fit this transformer"):
        norm_params.flatten(bad, imported_model.config.alpha)
    bad = {**offsets, "expand/conv3/conv": (np.zeros(4), np.zeros(4))}
    with pytest.raises(UserError, match="the layer has 3 channels"):
        norm_params.flatten(bad, imported_model.config.alpha)


def _offsets(scale):
    return {"residual/residual1/conv1": (np.full(4, scale, np.float32),
                                         np.linspace(-scale, scale, 4).astype(np.float32)),
            "expand/conv3/conv": (np.full(3, -scale, np.float32), np.zeros(3, np.float32))}


def test_store_v2_keeps_norm_offsets_and_reads_v1():
    vector = np.linspace(-1, 1, 100)
    path = tuned_styles.save("normed", vector, weights="magenta-mobile", details={},
                             norm_offsets=_offsets(0.5))
    record = json.loads(path.read_text())
    assert record["format_version"] == 2 and record["norm_offsets_dtype"] == "float16"
    style = tuned_styles.style_for("normed", "magenta-mobile")
    for key, (beta, gamma) in _offsets(0.5).items():
        np.testing.assert_allclose(style.norm_offsets[key][0], beta, atol=1e-3)
        np.testing.assert_allclose(style.norm_offsets[key][1], gamma, atol=1e-3)
    np.testing.assert_allclose(style.vector, vector, rtol=1e-6)
    # A version 1 file (vector only) still reads.
    path.write_text(json.dumps({"format_version": 1, "name": "normed",
                                "weights": "magenta-mobile", "vector": list(vector)}))
    assert tuned_styles.style_for("normed", "magenta-mobile").norm_offsets is None
    # Damaged offsets are one clear error.
    path.write_text(json.dumps({**record, "norm_offsets": {"x": {"beta": "!!", "gamma": ""}}}))
    with pytest.raises(UserError, match="bad normalization parameters"):
        tuned_styles.load("normed")
    path.write_text(json.dumps({**record, "format_version": 1}))
    with pytest.raises(UserError, match="need format version 2"):
        tuned_styles.load("normed")


def test_a_blend_weighs_the_offsets():
    tuned_styles.save("a", np.zeros(100), weights="magenta-mobile", details={},
                      norm_offsets=_offsets(1.0))
    tuned_styles.save("b", np.zeros(100), weights="magenta-mobile", details={})
    offsets = tuned_styles.norm_offsets_of_entries(
        [("@a", 1.0), ("@b", 2.0), (str(STYLE_DIR / "pink_zigzag.jpg"), 1.0)],
        "magenta-mobile")
    for key, (beta, gamma) in _offsets(1.0).items():
        np.testing.assert_allclose(offsets[key][0], 0.25 * beta, atol=1e-3)
        np.testing.assert_allclose(offsets[key][1], 0.25 * gamma, atol=1e-3)
    assert tuned_styles.norm_offsets_of_entries([("@b", 1.0)], "magenta-mobile") is None


def test_builtin_styles_resolve_by_name_and_the_cache_overrides_them():
    names = tuned_styles.builtin_names()
    assert len(names) >= 20
    notice = (tuned_styles.LIBRARY_DIR / "NOTICE.md").read_text()
    for name in names:
        path = tuned_styles.builtin_path(name)
        assert 200 <= path.stat().st_size <= 8000, name
        style = tuned_styles.style_for(name, "magenta-mobile")
        assert style.record["builtin"] and f"`{name}`" in notice
        assert style.record["painter"] and style.record["source"]
        assert style.record["style_tuned"] < style.record["style_predicted"]
        # The goal, as checked on held-out photos when the library was tuned.
        held_out = style.record["held_out"]
        assert held_out["style_ratio"] < 1 and held_out["content_ratio"] <= 1.2, name
        assert "golden_gate_sq.jpg" in held_out["contents"]
        assert not set(held_out["contents"]) & set(style.record["contents"])
    name = names[0]
    assert name in tuned_styles.all_names() and name not in tuned_styles.names()
    with pytest.raises(UserError, match="a built-in style cannot be removed"):
        tuned_styles.remove(name)
    tuned_styles.save(name, np.full(100, 0.25), weights="magenta-mobile", details={})
    style = tuned_styles.style_for(name, "magenta-mobile")
    assert not style.record["builtin"] and np.all(style.vector == 0.25)
    tuned_styles.remove(name)
    assert tuned_styles.style_for(name, "magenta-mobile").record["builtin"]


def test_builtin_contents_are_listed_with_their_licences():
    paths = tuned_styles.builtin_contents()
    assert len(paths) >= 3
    notice = (tuned_styles.LIBRARY_DIR / "NOTICE.md").read_text()
    for path in paths:
        assert f"contents/{path.name}" in notice
        assert image_io.load_image(path).shape == (256, 256, 3)


def test_tune_command_without_contents_uses_the_builtin_set(weights_home, tmp_path):
    result = _styles_cli("tune", str(STYLE_DIR / "pink_zigzag.jpg"), "--name", "zig",
                         "--steps", "1", "--norm_steps", "1", "--size", "32",
                         "--vgg_weights", "none", home=weights_home)
    assert result.returncode == 0, result.stderr
    record = tuned_styles_record(weights_home, "zig")
    (weights_home / "styles" / "zig.json").unlink()
    assert record["contents"] == [p.name for p in tuned_styles.builtin_contents()]
    assert record["steps_done"] == 2 and record["format_version"] == 2
    assert record["content_tuned"] <= 1.15 * record["content_predicted"]


def test_sheet_shows_every_style_with_its_norm_offsets(weights_home, imported_model,
                                                       tmp_path, monkeypatch):
    monkeypatch.setenv("ARBITRARY_STYLE_HOME", str(weights_home))
    vector = imported_model.predict_style(load_rgb(STYLE_DIR / "pink_zigzag.jpg", 64))
    offsets = {key: (np.full(b.shape, 0.4, np.float32), np.zeros(g.shape, np.float32))
               for key, (b, g) in cin_biases(imported_model.transformer).items()}
    tuned_styles.save("plain", vector, weights="magenta-mobile", details={})
    tuned_styles.save("normed", vector, weights="magenta-mobile", details={},
                      norm_offsets=offsets)
    content = tmp_path / "content.png"
    image_io.save_image(load_rgb(CONTENT_DIR / "golden_gate_sq.jpg", 64), content)
    try:
        result = _styles_cli("sheet", "--content", str(content), "--output",
                             str(tmp_path / "sheet.png"), "--styles", "@plain,@normed",
                             "--size", "64", home=weights_home)
        missing = _styles_cli("sheet", "--content", str(content), "--output",
                              str(tmp_path / "x.png"), "--styles", "@nope", home=weights_home)
    finally:
        tuned_styles.remove("plain")
        tuned_styles.remove("normed")
    assert result.returncode == 0, result.stderr
    sheet = image_io.load_image(tmp_path / "sheet.png")
    assert sheet.shape == (64 + 16, 6 * 64, 3)
    tiles = [sheet[16:, i * 64:(i + 1) * 64] for i in range(3)]
    expected = imported_model.stylize(load_rgb(CONTENT_DIR / "golden_gate_sq.jpg", 64), vector)
    assert np.abs(tiles[1] - expected).mean() < 2 / 255  # @plain: the vector
    assert np.abs(tiles[2] - tiles[1]).mean() > 4 / 255  # @normed: its offsets applied
    assert missing.returncode == 1 and "no tuned style 'nope'" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_the_pipeline_applies_norm_offsets_on_both_backends(imported_model):
    """`--styles @NAME` with per-layer offsets: every backend stylizes with them, and
    strength scales them with the vector (strength 0 is the content's own vector alone)."""
    from arbitrary_style import backends, pipeline
    from arbitrary_style.weights import builtin

    vector = np.linspace(-1, 1, 100).astype(np.float32)
    stored = {key: (np.full(b.shape, 0.25, np.float32), np.full(g.shape, -0.25, np.float32))
              for key, (b, g) in cin_biases(imported_model.transformer).items()}
    tuned_styles.save("normed", vector, weights="magenta-mobile", details={},
                      norm_offsets=stored)
    styles = [("@normed", 1.0)]
    content = np.random.default_rng(0).random((64, 80, 3), np.float32)
    with biases_shifted(imported_model, stored):
        expected = imported_model.stylize(content, vector)
    light = backends.load(builtin.directory(), "light")  # The imported weights, int8.
    for model in (imported_model, light):
        offsets = pipeline.norm_offsets(model, styles, weights_name="magenta-mobile")
        stylizer = pipeline.Stylizer(model, vector, norm_offsets=offsets)
        np.testing.assert_allclose(stylizer.array(content), expected, atol=1e-4)
        assert np.abs(expected - model.stylize(content, vector)).mean() > 1e-3
        none = pipeline.Stylizer(model, vector, pipeline.StylizeOptions(strength=0.0),
                                 norm_offsets=offsets).array(content)
        np.testing.assert_allclose(
            none, model.stylize(content, model.predict_style(content)), atol=1e-5)
    tuned_styles.remove("normed")


def test_tuning_contents_are_each_photos_square_and_its_zoomed_corners(tmp_path):
    """A 60x40 photo: a 40-px central square of four flat quadrants between margins of
    another colour; each zoomed crop is one quadrant alone, enlarged."""
    from arbitrary_style.styles import load_contents

    quadrants = {(0, 0): (1.0, 0, 0), (1, 1): (0, 1.0, 0), (0, 1): (0, 0, 1.0),
                 (1, 0): (1.0, 1.0, 0)}
    photo = np.full((40, 60, 3), 0.5, np.float32)
    for (row, column), colour in quadrants.items():
        photo[20 * row:20 * row + 20, 10 + 20 * column:30 + 20 * column] = colour
    image_io.save_image(photo, tmp_path / "a.png")
    image_io.save_image(photo[::-1], tmp_path / "b.png")
    paths = [tmp_path / "a.png", tmp_path / "b.png"]
    views = load_contents(paths, 16, zoomed_crops=4)
    assert views.shape == (10, 16, 16, 3)
    np.testing.assert_allclose(views[:5], load_contents(paths[:1], 16, zoomed_crops=4))
    np.testing.assert_allclose(views[0], load_contents(paths[:1], 16)[0])
    assert not np.any(np.all(np.abs(views[0] - 0.5) < 0.01, axis=-1))  # No margin inside.
    for view, corner in zip(views[1:5], [(0, 0), (1, 1), (0, 1), (1, 0)]):
        np.testing.assert_allclose(view, np.broadcast_to(quadrants[corner], view.shape),
                                   atol=2 / 255)
    np.testing.assert_allclose(views[6], np.broadcast_to(quadrants[(1, 0)], (16, 16, 3)),
                               atol=2 / 255)  # The flipped photo's top left.
    assert load_contents(paths, 16, zoomed_crops=2).shape == (6, 16, 16, 3)


def test_tuning_arguments_are_the_tune_options_with_their_bounds(capsys):
    """The scripts' argparse flags: `OPTIONS` (the defaults `tune` has too), other defaults
    by name, bounds and finiteness checked as `cli` checks the command's absl flags."""
    import argparse
    import inspect

    parser = argparse.ArgumentParser()
    tuned_styles.add_tuning_arguments(parser, steps=20)
    defaults = vars(parser.parse_args([]))
    assert defaults == {**{name: option.default for name, option in
                           tuned_styles.OPTIONS.items()}, "steps": 20}
    for name, parameter in inspect.signature(tuned_styles.tune).parameters.items():
        if name in tuned_styles.OPTIONS and parameter.default is not parameter.empty:
            assert parameter.default == tuned_styles.OPTIONS[name].default, name
    assert parser.parse_args(["--max_content_ratio", "1.5"]).max_content_ratio == 1.5
    for flag, value in (("--size", "8"), ("--max_content_ratio", "inf"),
                        ("--content_weight", "nan"), ("--steps", "1.5"), ("--zoomed_crops", "5")):
        with pytest.raises(SystemExit) as exited:
            parser.parse_args([flag, value])
        assert exited.value.code == 2
        assert f"error: argument {flag}: " in capsys.readouterr().err
    with pytest.raises(TypeError, match="stepz"):
        tuned_styles.add_tuning_arguments(argparse.ArgumentParser(), stepz=3)


@pytest.mark.parametrize("script, steps", [
    ("tools/make_style_library.py", 20),
    ("benchmarks/tuned_style_gain.py", tuned_styles.OPTIONS["steps"].default)])
def test_the_tuning_scripts_take_the_tune_options(script, steps):
    root = pathlib.Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True,
                            cwd=root, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(root), "COLUMNS": "500"})
    assert result.returncode == 0, result.stderr
    for name, option in tuned_styles.OPTIONS.items():
        default = steps if name == "steps" else option.default
        assert f"{option.help} (default: {default})" in result.stdout, name
