"""Optimization-based stylization (`arbitrary_style.optimize`), offline.

The VGG is randomly initialised (weights=None, `--vgg_weights none`): nothing is
downloaded, and it computes what the ImageNet VGG computes, only with other features.
Images are tiny (32-48 px). Most tests use unit style weights, so the style term is
not dwarfed by the others whatever the random VGG's features. The loss-decrease checks test
the optimizers, whatever the VGG; the fast-vs-noise check compares each loss term.
"""

import hashlib
import itertools
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from PIL import Image

from arbitrary_style import image_io
from arbitrary_style.errors import UserError
from arbitrary_style.losses import LossConfig, StyleLoss, gram_matrix, total_variation
from arbitrary_style.image_io import limit_long_side, transfer_luminance
from arbitrary_style.optimize import OptimizeConfig, initial_image, optimize, optimize_image
from conftest import default_sigint

SAMPLES = pathlib.Path(__file__).resolve().parents[1] / "samples"
CONTENT = SAMPLES / "content" / "golden_gate_sq.jpg"  # 256x256
STYLE_A = SAMPLES / "style" / "dark_strokes.png"  # generated, 256 wide, 336 high
STYLE_B = SAMPLES / "style" / "pink_zigzag.jpg"  # 256x256
UNIT_STYLE = LossConfig(style_weights={f"vgg_16/conv{i}": 1.0 for i in range(1, 5)},
                        total_variation_weight=1.0)


@pytest.fixture(scope="module")
def loss():
    keras.utils.set_random_seed(0)
    return StyleLoss(UNIT_STYLE, weights=None)


@pytest.fixture(scope="module")
def images():
    """Content 48x48 and two styles of other sizes (37x48 and 40x40)."""
    return (limit_long_side(image_io.load_image(CONTENT), 48),
            limit_long_side(image_io.load_image(STYLE_A), 48),
            limit_long_side(image_io.load_image(STYLE_B), 40))


def recorder(stop_at=None):
    """A callback that keeps every step's (image, loss) and may raise KeyboardInterrupt."""
    steps = []

    def callback(step, image, value):
        assert step == len(steps)
        steps.append((image.copy(), value))
        if step == stop_at:
            raise KeyboardInterrupt

    return steps, callback


def config(tmp_path, **overrides):
    fields = {"content": str(CONTENT), "styles": str(STYLE_A),
              "output": str(tmp_path / "out.png"), "steps": 3, "size": 32, "loss": UNIT_STYLE,
              "vgg_weights": None}
    return OptimizeConfig(**{**fields, **overrides})


def assert_saved(path, image):
    """The file holds `image` up to 8-bit rounding."""
    assert np.abs(image_io.load_image(path) - image).max() <= 0.5 / 255 + 1e-6


def files(directory):
    """{name: sha256} of every file in `directory` (hidden temporary files included)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(pathlib.Path(directory).iterdir()) if p.is_file()}


# --- the optimizers ------------------------------------------------------------

def test_lbfgs_lowers_the_loss_at_every_step(loss, images):
    content, style_a, _ = images
    steps, callback = recorder()
    best, history = optimize_image(content, [style_a], loss=loss, steps=5, optimizer="lbfgs",
                                   callback=callback)
    assert len(history) == 6 and [value for _, value in steps] == history
    for previous, current in itertools.pairwise(history):
        assert current <= previous * 1.01, history
    assert history[-1] < 0.5 * history[0], history
    assert best.shape == content.shape and 0.0 <= best.min() and best.max() <= 1.0
    assert np.array_equal(best, steps[int(np.argmin(history))][0])


def test_adam_lowers_the_loss(loss, images):
    content, style_a, _ = images
    noise = initial_image("noise", content, [style_a], seed=1)
    best, history = optimize_image(content, [style_a], loss=loss, steps=5, optimizer="adam",
                                   learning_rate=0.02, init_image=noise)
    assert len(history) == 6
    assert history[-1] < 0.9 * history[0], history
    assert 0.0 <= best.min() and best.max() <= 1.0


def test_two_styles_blend_as_the_weighted_gram_target(loss, images):
    content, style_a, style_b = images
    features = {name: loss.features(image[np.newaxis])
                for name, image in (("content", content), ("a", style_a), ("b", style_b))}
    expected = UNIT_STYLE.total_variation_weight * float(total_variation(content[np.newaxis]))
    for layer, weight in UNIT_STYLE.style_weights.items():
        target = 0.7 * gram_matrix(features["a"][layer]) + 0.3 * gram_matrix(features["b"][layer])
        expected += weight * float(np.mean(
            np.square(gram_matrix(features["content"][layer]) - target)))

    def start_loss(blend):  # From the content: the content term is 0.
        return optimize_image(content, [style_a, style_b], blend, loss=loss, steps=0)[1][0]

    assert start_loss([7, 3]) == pytest.approx(expected, rel=1e-4)
    # The blend matters: swapped weights give another target.
    assert abs(start_loss([3, 7]) - expected) > 0.05 * expected


def test_fast_init_starts_lower_than_noise(loss, images, weights_home, monkeypatch):
    """The issue's claim, term by term, so that it means something with a random VGG too.

    Measured on this pair at 48 px over six VGG seeds, the fast network's output has a
    content loss 2.7-6.7x lower than noise, a style loss 16-63x lower than noise and
    20-150x lower than the content's own, and a 28x smaller total variation: its total is
    lower whatever the loss weights. (With ImageNet VGG weights the comparison would be the
    paper's; they cannot be downloaded here.)
    """
    monkeypatch.setenv("ARBITRARY_STYLE_HOME", str(weights_home))
    content, style_a, _ = images
    full_style = image_io.load_image(STYLE_A)  # The fast network sees the style as `optimize`.
    targets = loss.targets(content[np.newaxis], [style_a], style_blend=[1.0])
    parts = {}
    for init in ("content", "noise", "fast"):
        start = initial_image(init, content, [full_style], seed=0)
        assert start.shape == content.shape
        parts[init] = {k: float(v) for k, v in loss.loss(start[np.newaxis], targets)[1].items()}
        history = optimize_image(content, [style_a], loss=loss, steps=0, init_image=start)[1]
        assert history == [pytest.approx(parts[init]["total"], rel=1e-5)]
    fast, noise = parts["fast"], parts["noise"]
    assert fast["total"] < noise["total"], parts
    assert fast["content"] < noise["content"] / 2, parts
    assert fast["style"] < noise["style"] / 4, parts
    assert fast["total_variation"] < noise["total_variation"] / 4, parts
    assert fast["style"] < parts["content"]["style"] / 4, parts  # It carries the style.


# --- optimize(config): the command's work ------------------------------------------

@pytest.mark.parametrize("optimizer, learning_rate", [("lbfgs", 0.02), ("adam", 1.0)])
def test_interrupt_writes_the_best_image_so_far(optimizer, learning_rate, tmp_path):
    steps, callback = recorder(stop_at=3)
    summary = optimize(config(tmp_path, steps=10, optimizer=optimizer,
                              learning_rate=learning_rate), callback=callback)
    losses = [value for _, value in steps]
    best_step = int(np.argmin(losses))
    assert summary["interrupted"] and summary["steps_done"] == 3 and len(steps) == 4
    assert summary["best_step"] == best_step and summary["best_loss"] == losses[best_step]
    assert sorted(os.listdir(tmp_path)) == ["out.png"]
    assert_saved(tmp_path / "out.png", steps[best_step][0])
    if optimizer == "adam":  # Steps of 1.0 overshoot: the best is not the last image.
        assert best_step < 3, losses


def test_snapshots_every_n_steps_and_preserve_colors(tmp_path):
    steps, callback = recorder()
    summary = optimize(config(tmp_path, steps=5, snapshot_every=2, preserve_colors=True,
                              init="noise"), callback=callback)
    assert not summary["interrupted"] and summary["steps_done"] == 5 and len(steps) == 6
    assert summary["snapshots"] == [str(tmp_path / "out_step2.png"),
                                    str(tmp_path / "out_step4.png")]
    assert sorted(os.listdir(tmp_path)) == ["out.png", "out_step2.png", "out_step4.png"]
    content = limit_long_side(image_io.load_image(CONTENT), 32)
    for name, step in (("out_step2.png", 2), ("out_step4.png", 4),
                       ("out.png", summary["best_step"])):
        assert_saved(tmp_path / name, transfer_luminance(content, steps[step][0]))
    assert summary["size"] == [32, 32] and summary["init"] == "noise"


def _missing_content(tmp_path):
    return {"content": str(tmp_path / "missing.jpg")}, "image file not found"


def _text_file_as_content(tmp_path):
    (tmp_path / "notes.jpg").write_text("not a photo\n")
    return {"content": str(tmp_path / "notes.jpg")}, "not an image"


def _malformed_styles(tmp_path):
    return {"styles": f"{STYLE_A}:0,{STYLE_B}"}, "weight must be a positive"


def _output_is_a_style(tmp_path):
    style = tmp_path / "style.png"
    style.write_bytes(STYLE_B.read_bytes())
    return {"styles": str(style), "output": str(style)}, "refusing to overwrite"


def _unsupported_output_extension(tmp_path):
    return {"output": str(tmp_path / "out.gif")}, "unsupported extension"


def _snapshot_would_overwrite_the_content(tmp_path):
    content = tmp_path / "out_step2.jpg"
    content.write_bytes(CONTENT.read_bytes())
    return ({"content": str(content), "output": str(tmp_path / "out.jpg"), "snapshot_every": 2},
            "would overwrite an input")


def _tiny_content(tmp_path):
    Image.new("RGB", (12, 40), "red").save(tmp_path / "tiny.png")
    return {"content": str(tmp_path / "tiny.png")}, "at least 16"


def _fast_init_without_cached_weights(tmp_path):
    return {"init": "fast", "weights": "not-cached"}, "not in the cache"


@pytest.mark.parametrize("make_case", [
    _missing_content, _text_file_as_content, _malformed_styles, _output_is_a_style,
    _unsupported_output_extension, _snapshot_would_overwrite_the_content, _tiny_content,
    _fast_init_without_cached_weights,
], ids=lambda make: make.__name__.strip("_"))
def test_bad_input_is_a_user_error_and_writes_nothing(make_case, tmp_path):
    overrides, fragment = make_case(tmp_path)
    before = files(tmp_path)
    with pytest.raises(UserError, match=fragment):
        optimize(config(tmp_path, **overrides))
    assert files(tmp_path) == before


# --- the command line ----------------------------------------------------------------

_TF_LOG_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d")
_TF_NOISE_PREFIXES = ("WARNING: All log messages before absl::InitializeLog()",
                      "To enable the following instructions:")


def command(args):
    return [sys.executable, "-m", "arbitrary_style.optimize", *map(str, args)]


def run_cli(args, *, cwd, home):
    return subprocess.run(command(args), check=False, cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "ARBITRARY_STYLE_HOME": str(home)})


def our_stderr_lines(stderr):
    """Non-empty stderr lines without TensorFlow's log noise or tqdm's progress bar."""
    return [line.strip() for line in re.split(r"[\r\n]", stderr)
            if line.strip() and not _TF_LOG_LINE.match(line.strip())
            and "cpu_feature_guard" not in line
            and "step/s" not in line and "s/step" not in line  # tqdm: fast or slow steps.
            and not line.strip().startswith(_TF_NOISE_PREFIXES)]


def describe(result):
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def test_cli_two_styles_fast_init_json(weights_home, tmp_path):
    result = run_cli(["--content", CONTENT, "--styles", f"{STYLE_A}:0.7,{STYLE_B}:0.3",
                      "--init", "fast", "--steps", 3, "--size", 48, "--vgg_weights", "none",
                      "--output", "out.png", "--json"], cwd=tmp_path, home=weights_home)
    assert result.returncode == 0, describe(result)
    assert our_stderr_lines(result.stderr) == [], describe(result)
    assert sorted(os.listdir(tmp_path)) == ["out.png"]
    assert image_io.load_image(tmp_path / "out.png").shape == (48, 48, 3)
    summary = json.loads(result.stdout)
    assert summary["output"] == "out.png" and summary["init"] == "fast"
    assert summary["steps_done"] == 3 and not summary["interrupted"]
    assert [s["share"] for s in summary["styles"]] == [pytest.approx(0.7), pytest.approx(0.3)]
    assert summary["vgg_weights"] is None and summary["network"] == "vgg16"
    assert summary["best_loss"] < summary["initial_loss"]


def test_cli_ctrl_c_writes_the_best_image_and_exits_130(tmp_path):
    process = subprocess.Popen(
        command(["--content", CONTENT, "--styles", STYLE_A, "--steps", 100_000, "--size", 32,
                 "--vgg_weights", "none", "--snapshot_every", 1, "--output", "out.png"]),
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=default_sigint)
    deadline = time.monotonic() + 120
    while not (tmp_path / "out_step2.png").exists() and process.poll() is None:
        assert time.monotonic() < deadline, "no snapshot after 120 s"
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    [line] = our_stderr_lines(stderr)
    assert line.startswith("interrupted after ") and "wrote the best image so far" in line
    assert stdout == ""
    assert image_io.load_image(tmp_path / "out.png").shape == (32, 32, 3)


@pytest.mark.parametrize("make_args, fragment", [
    (lambda work: ["--content", work / "broken.jpg", "--styles", STYLE_A],
     "truncated or corrupt"),
    (lambda work: ["--content", work / "photo.jpg", "--styles", STYLE_A,
                   "--output", work / "photo.jpg"], "refusing to overwrite"),
    (lambda work: ["--content", work / "photo.jpg", "--styles", STYLE_A,
                   "--style_weights", "vgg_16/conv9:1"], "unknown loss layer 'vgg_16/conv9'"),
], ids=["truncated_content", "output_is_the_content", "unknown_style_layer"])
def test_cli_bad_input_is_one_error_line(make_args, fragment, tmp_path):
    data = CONTENT.read_bytes()
    (tmp_path / "photo.jpg").write_bytes(data)
    (tmp_path / "broken.jpg").write_bytes(data[: len(data) // 3])
    before = files(tmp_path)
    result = run_cli([*make_args(tmp_path), "--vgg_weights", "none"], cwd=tmp_path,
                     home=tmp_path / "empty_home")
    assert result.returncode not in (0, 130), describe(result)
    lines = our_stderr_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], \
        describe(result)
    assert result.stdout == "" and files(tmp_path) == before
