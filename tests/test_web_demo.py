"""Tests of the browser demo (export/web/) and its server (`export/web.py`).

The end-to-end test exports the pretrained model with `export.tfjs`, serves it with the
demo, and runs tests/js/demo_e2e.js: Playwright (export/web/node_modules) drives Debian's
headless Chromium (/usr/bin/chromium, or $CHROMIUM), which stylizes a sample content image
with two styles; the result is compared with the Keras model's. The page's screenshot is
kept as test-artifacts/web_demo.png. The camera test (tests/js/camera_e2e.js) plays a clip
made from the sample photos as Chromium's fake camera and compares two successive stylized
frames with the Keras model's on the same input frames (screenshot:
test-artifacts/web_demo_camera.png). The tuned-style test picks a built-in tuned style for
style 1 in the page's select, blends it with a style image, and compares the result with the
library's stylization with the blended, strength-scaled norm offsets (screenshot:
test-artifacts/web_demo_tuned.png). Needs node, `npm ci --prefix export/web`,
`apt-get install -y chromium` and the TF.js converter (`python -m export.tfjs --setup` or
$ARBITRARY_STYLE_TFJS_PYTHON); a missing one fails the test with the command to run.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest
from conftest import CONTENT_DIR, SAMPLES, STYLE_DIR, load_rgb

from arbitrary_style import norm_params, tuned_styles
from arbitrary_style.errors import UserError
from arbitrary_style.style_vectors import apply_strength, blend_style_vectors
from arbitrary_style.weights import store
from export import tfjs, web

ROOT = pathlib.Path(__file__).resolve().parents[1]
E2E_SCRIPT = ROOT / "tests" / "js" / "demo_e2e.js"
CAMERA_SCRIPT = ROOT / "tests" / "js" / "camera_e2e.js"
SCREENSHOT = ROOT / "test-artifacts" / "web_demo.png"
CAMERA_SCREENSHOT = ROOT / "test-artifacts" / "web_demo_camera.png"
TUNED_SCREENSHOT = ROOT / "test-artifacts" / "web_demo_tuned.png"
CHROMIUM = pathlib.Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
# Read at import, before conftest's autouse fixture points ARBITRARY_STYLE_HOME at a temp dir.
CONVERTER = str(tfjs.resolve_converter_python())
# 256x326: not square (the aspect ratio is checked), and small enough that neither the
# content (at most 512 px) nor the styles (256 px on the shorter side) are resized, so the
# browser's result can be compared with the Keras model's on the same pixels.
CONTENT = CONTENT_DIR / "eiffel_tower.jpg"
STYLES = (STYLE_DIR / "Camille_Mauclair.jpg", STYLE_DIR / "Theo_van_Doesburg_sq.jpg")
BLEND, STRENGTH = 0.3, 0.8
CLIP_SIZE, CLIP_FPS, PAN_FRAMES = (192, 144), 10, 12  # The fake camera's clip.
CAMERA_SIZE = 128  # The smallest camera size: software WebGL is slow.
# A built-in tuned style whose norm offsets change its result most (on the content: 0.056
# mean absolute difference at full strength, measured).
TUNED_STYLE = "mona-lisa"


def require_browser_tools():
    """Fails (not skips) with the command that installs what the end-to-end test needs."""
    if shutil.which("node") is None:
        pytest.fail("node is not installed (apt-get install -y nodejs)", pytrace=False)
    if not (web.WEB_DIR / "node_modules" / "playwright-core").is_dir() or \
            not web.TFJS_SCRIPT.is_file():
        pytest.fail("export/web/node_modules is missing; run: npm ci --prefix export/web",
                    pytrace=False)
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing; install Debian's chromium "
                    "(apt-get install -y chromium) or set $CHROMIUM", pytrace=False)


@pytest.fixture(scope="module")
def tfjs_models(imported_model, tmp_path_factory):
    """The pretrained model exported by `export.tfjs` (float16, the default), with the
    built-in tuned styles."""
    require_browser_tools()  # Before the export: fail fast.
    output = tmp_path_factory.mktemp("web_demo") / "tfjs"
    styles = [tuned_styles.style_for(name, store.DEFAULT_WEIGHTS)
              for name in tuned_styles.builtin_names()]
    try:
        tfjs.export_tfjs(imported_model, output, converter_python=CONVERTER, styles=styles)
    except UserError as error:
        pytest.fail(f"TF.js export failed: {error}", pytrace=False)
    return output


@pytest.fixture(scope="module")
def demo_port(tfjs_models):
    """The demo served with the exported models and the sample images; its port."""
    server, port = web.start_server_thread(tfjs_models, images_dir=SAMPLES)
    yield port
    server.shutdown()
    server.server_close()


def expected_stylized(model, content):
    """The Keras model's result on `content` with the tests' styles, blend and strength."""
    vectors = [model.predict_style(load_rgb(path)) for path in STYLES]
    vector = apply_strength(blend_style_vectors(vectors, [1 - BLEND, BLEND]),
                            model.predict_style(content), STRENGTH)
    return model.stylize(content, vector)


@pytest.fixture
def fake_files(tmp_path, monkeypatch):
    """A models directory with placeholder files and a placeholder tf.min.js."""
    models = tmp_path / "models"
    for name in ("predict", "transfer"):
        (models / name).mkdir(parents=True)
        (models / name / "model.json").write_text('{"format": "graph-model"}')
        (models / name / "group1-shard1of1.bin").write_bytes(b"\0" * 8)
    (models / "export.json").write_text("{}")
    script = tmp_path / "tf.min.js"
    script.write_text("// tf")
    monkeypatch.setattr(web, "TFJS_SCRIPT", script)
    return models


def fetch(port, path):
    """(status, content type, body) of GET http://127.0.0.1:port/path (no path normalizing)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def test_server_maps_only_its_roots(fake_files):
    server, port = web.start_server_thread(fake_files, images_dir=SAMPLES)
    try:
        served = {path: fetch(port, path)[:2] for path in (
            "/", "/index.html", "/app.js", "/style.css", "/vendor/tf.min.js",
            "/models/predict/model.json", "/models/transfer/group1-shard1of1.bin",
            "/images/content/eiffel_tower.jpg")}
        assert {path: status for path, (status, _) in served.items()} == dict.fromkeys(served, 200)
        assert [served[p][1] for p in ("/", "/app.js", "/style.css", "/vendor/tf.min.js",
                                       "/models/predict/model.json",
                                       "/models/transfer/group1-shard1of1.bin",
                                       "/images/content/eiffel_tower.jpg")] == [
            "text/html", "text/javascript", "text/css", "text/javascript", "application/json",
            "application/octet-stream", "image/jpeg"]
        assert b"<canvas id=\"result\"" in fetch(port, "/")[2]
        # No listings, nothing outside the roots: package files, node_modules, traversal.
        for path in ("/models/", "/models/predict/", "/images/", "/vendor/", "/package.json",
                     "/node_modules/@tensorflow/tfjs/package.json", "/web/app.js",
                     "/models/../web.py", "/%2e%2e/web.py", "/models/%2e%2e/%2e%2e/tf.min.js",
                     "/images/..%2f..%2fpretrained/", "/nonexistent.js"):
            assert fetch(port, path)[0] == 404, path
    finally:
        server.shutdown()
        server.server_close()


def test_missing_models_or_tfjs_is_one_line_error(fake_files, tmp_path, monkeypatch):
    with pytest.raises(UserError, match=r"python -m export\.tfjs --output .*empty") as error:
        web.make_server(tmp_path / "empty", port=0)
    assert "\n" not in str(error.value)
    monkeypatch.setattr(web, "TFJS_SCRIPT", tmp_path / "none" / "tf.min.js")
    with pytest.raises(UserError, match=r"npm ci --prefix export/web"):
        web.make_server(fake_files, port=0)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "export.web", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def test_cli_errors(tmp_path):
    missing = run_cli("--serve", "--models", tmp_path / "none", "--port", "0")
    errors = [line for line in missing.stderr.splitlines() if line.startswith("error:")]
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert len(errors) == 1
    if web.TFJS_SCRIPT.is_file():
        assert errors[0] == (f"error: no TF.js models in {tmp_path / 'none'} (predict/model.json "
                             f"is missing); create them with: python -m export.tfjs --output "
                             f"{tmp_path / 'none'}")
    else:
        assert "npm ci --prefix export/web" in errors[0]
    idle = run_cli()
    assert idle.returncode == 1 and "pass --serve" in idle.stderr


def run_demo(port, query, screenshot, result_png, *choices):
    """Runs tests/js/demo_e2e.js on the demo with `query`; its stats."""
    screenshot.parent.mkdir(exist_ok=True)
    screenshot.unlink(missing_ok=True)
    result = subprocess.run(
        ["node", str(E2E_SCRIPT), f"http://127.0.0.1:{port}/?{urllib.parse.urlencode(query)}",
         str(screenshot), str(result_png), *choices],
        capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"demo_e2e.js failed:\n{result.stderr[-4000:]}"
    assert screenshot.is_file() and screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_demo_stylizes_in_headless_chromium(demo_port, imported_model, tmp_path):
    stats = run_demo(demo_port, {
        "content": f"/images/content/{CONTENT.name}", "style1": f"/images/style/{STYLES[0].name}",
        "style2": f"/images/style/{STYLES[1].name}", "blend": BLEND, "strength": STRENGTH},
        SCREENSHOT, tmp_path / "result.png")

    assert (stats["content_width"], stats["content_height"]) == (256, 326)
    assert (stats["width"], stats["height"]) == (256, 326)  # the content's size and aspect
    assert stats["std"] > 0.05, "the result is blank"
    assert stats["mean_abs_diff"] > 0.05, "the result is the content"
    assert stats["first"]["status"].startswith("Done") and stats["download"].startswith("blob:")
    assert stats["second"]["tensors"] == stats["first"]["tensors"], "tensors leak per run"

    # The browser's blend and strength match the project's on the same images.
    expected = expected_stylized(imported_model, load_rgb(CONTENT))
    actual = load_rgb(tmp_path / "result.png")
    assert actual.shape == expected.shape
    difference = float(np.abs(actual - expected).mean())
    assert difference < 0.02, f"the browser's result differs from the model's by {difference}"


def test_demo_stylizes_with_a_tuned_style_in_headless_chromium(demo_port, imported_model,
                                                               tmp_path):
    """Style 1 a tuned style (picked in its select), style 2 an image: the vectors blend, the
    offsets are weighted as style 1's vector is, and the strength scales them."""
    stats = run_demo(demo_port, {
        "content": f"/images/content/{CONTENT.name}", "style2": f"/images/style/{STYLES[1].name}",
        "blend": BLEND, "strength": STRENGTH}, TUNED_SCREENSHOT, tmp_path / "result.png",
        f"style1-tuned={TUNED_STYLE}")
    assert stats["first"]["status"].startswith("Done")
    assert stats["second"]["tensors"] == stats["first"]["tensors"], "tensors leak per run"

    content = load_rgb(CONTENT)
    style = tuned_styles.style_for(TUNED_STYLE, store.DEFAULT_WEIGHTS)
    offsets = norm_params.flatten(style.norm_offsets, imported_model.config.alpha)
    vector = apply_strength(
        blend_style_vectors([style.vector, imported_model.predict_style(load_rgb(STYLES[1]))],
                            [1 - BLEND, BLEND]),
        imported_model.predict_style(content), STRENGTH)
    expected = imported_model.stylize(content, vector,
                                      norm_offsets=STRENGTH * (1 - BLEND) * offsets)
    actual = load_rgb(tmp_path / "result.png")
    assert actual.shape == expected.shape
    difference = float(np.abs(actual - expected).mean())  # Measured 0.0017.
    assert difference < 0.02, f"the browser's result differs from the model's by {difference}"
    # Far from the results of the offsets ignored, or not blended and scaled (measured 0.039,
    # 0.040).
    for wrong in (None, offsets):
        other = imported_model.stylize(content, vector, norm_offsets=wrong)
        assert float(np.abs(actual - other).mean()) > 5 * difference


def write_y4m(path, frames, fps):
    """Frames [N,H,W,3] in [0,1] as a YUV4MPEG2 clip (4:2:0, BT.601 limited range)."""
    rgb = np.asarray(frames, np.float64)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    u = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    v = 128 + 112.0 * r - 93.786 * g - 18.214 * b
    n, h, w = y.shape
    u, v = (plane.reshape(n, h // 2, 2, w // 2, 2).mean(axis=(2, 4)) for plane in (u, v))
    planes = [np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in (y, u, v)]
    with open(path, "wb") as clip:
        clip.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for index in range(n):
            clip.write(b"FRAME\n" + b"".join(p[index].tobytes() for p in planes))


def pan_clip():
    """A diagonal pan across each sample content photo (256x256): all frames differ."""
    w, h = CLIP_SIZE
    frames = []
    for path in sorted(CONTENT_DIR.glob("*.jpg")):
        photo = load_rgb(path, 256)
        for step in range(PAN_FRAMES):
            x, y = step * (256 - w) // PAN_FRAMES, step * (256 - h) // PAN_FRAMES
            frames.append(photo[y:y + h, x:x + w])
    return np.stack(frames)


def test_camera_source_in_headless_chromium(demo_port, imported_model, tmp_path):
    clip = tmp_path / "clip.y4m"
    write_y4m(clip, pan_clip(), CLIP_FPS)
    query = urllib.parse.urlencode({
        "style1": f"/images/style/{STYLES[0].name}", "style2": f"/images/style/{STYLES[1].name}",
        "blend": BLEND, "strength": STRENGTH, "camera-size": CAMERA_SIZE})
    result = subprocess.run(
        ["node", str(CAMERA_SCRIPT), f"http://127.0.0.1:{demo_port}/?{query}", str(clip),
         str(tmp_path)], capture_output=True, text=True, timeout=400, check=False)
    assert result.returncode == 0, f"camera_e2e.js failed:\n{result.stderr[-4000:]}"
    stats = json.loads(result.stdout.strip().splitlines()[-1])
    CAMERA_SCREENSHOT.parent.mkdir(exist_ok=True)
    shutil.copyfile(tmp_path / "page.png", CAMERA_SCREENSHOT)

    inputs = [load_rgb(tmp_path / f"{name}-input.png") for name in ("first", "second")]
    outputs = [load_rgb(tmp_path / f"{name}-output.png") for name in ("first", "second")]
    expected = [expected_stylized(imported_model, frame) for frame in inputs]
    w, h = CLIP_SIZE
    assert inputs[0].shape == (h * CAMERA_SIZE // w, CAMERA_SIZE, 3)  # The camera size.
    # Successive frames change, and each output is the model's result on its own input.
    assert np.abs(inputs[0] - inputs[1]).mean() > 0.02, "the camera's frames do not change"
    assert np.abs(outputs[0] - outputs[1]).mean() > 0.02, "the stylized frames do not change"
    for frame, output, own, other in zip(inputs, outputs, expected, expected[::-1]):
        assert output.shape == frame.shape
        difference = float(np.abs(output - own).mean())
        assert difference < 0.02, f"a camera frame differs from the model's by {difference}"
        assert np.abs(output - other).mean() > 2 * difference, "the output ignores its frame"
        assert np.abs(output - frame).mean() > 0.05, "the output is the camera frame"
    for frame in ("first", "second"):
        assert stats[frame]["fps"] > 0 and stats[frame]["fps_text"].endswith(" FPS")
        assert stats[frame]["status"].startswith("Live")
        assert stats[frame]["tensors"] == stats["warm_tensors"], "tensors leak per frame"
    snapshot = tmp_path / "snapshot.png"
    assert snapshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert load_rgb(snapshot).shape == inputs[0].shape
    released = dict.fromkeys(("tracks_ended", "video_released", "loop_stopped"), True)
    assert stats["hidden"] == released and stats["hidden_status"].startswith("Camera paused")
    assert stats["resumed"].startswith("Live")  # Visible again: the camera restarts.
    assert stats["released"] == released  # Back to File.
    assert stats["unplugged"] == {**released, "status": "Error: the camera stopped (unplugged "
                                                        "or taken by another program)"}
    assert stats["denied"] == ("Error: camera access was denied (allow it in the browser to "
                               "use the camera)")
    assert stats["absent"] == "Error: no camera was found"
