"""Tests of the browser demo (export/web/) and its server (`export/web.py`).

The end-to-end test exports the pretrained model with `export.tfjs`, serves it with the
demo, and runs tests/js/demo_e2e.js: Playwright (export/web/node_modules) drives Debian's
headless Chromium (/usr/bin/chromium, or $CHROMIUM), which stylizes a shared content image
with two styles; the result is compared with the Keras model's. The page's screenshot is
kept as test-artifacts/web_demo.png. Needs node, `npm ci --prefix export/web`,
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
from conftest import CONTENT_DIR, SHARED, STYLE_DIR, load_rgb

from arbitrary_style.errors import UserError
from arbitrary_style.model import apply_strength, blend_style_vectors
from export import tfjs, web

ROOT = pathlib.Path(__file__).resolve().parents[1]
E2E_SCRIPT = ROOT / "tests" / "js" / "demo_e2e.js"
SCREENSHOT = ROOT / "test-artifacts" / "web_demo.png"
CHROMIUM = pathlib.Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
# Read at import, before conftest's autouse fixture points ARBITRARY_STYLE_HOME at a temp dir.
CONVERTER = str(tfjs.resolve_converter_python())
# 256x326: not square (the aspect ratio is checked), and small enough that neither the
# content (at most 512 px) nor the styles (256 px on the shorter side) are resized, so the
# browser's result can be compared with the Keras model's on the same pixels.
CONTENT = CONTENT_DIR / "eiffel_tower.jpg"
STYLES = (STYLE_DIR / "La_forma.jpg", STYLE_DIR / "towers_1916_sq.jpg")
BLEND, STRENGTH = 0.3, 0.8


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
    """The pretrained model exported by `export.tfjs` (float16, the default)."""
    require_browser_tools()  # Before the export: fail fast.
    output = tmp_path_factory.mktemp("web_demo") / "tfjs"
    try:
        tfjs.export_tfjs(imported_model, output, converter_python=CONVERTER)
    except UserError as error:
        pytest.fail(f"TF.js export failed: {error}", pytrace=False)
    return output


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
    server, port = web.start_server_thread(fake_files, images_dir=SHARED / "images")
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


def test_demo_stylizes_in_headless_chromium(tfjs_models, imported_model, tmp_path):
    server, port = web.start_server_thread(tfjs_models, images_dir=SHARED / "images")
    query = urllib.parse.urlencode({
        "content": f"/images/content/{CONTENT.name}", "style1": f"/images/style/{STYLES[0].name}",
        "style2": f"/images/style/{STYLES[1].name}", "blend": BLEND, "strength": STRENGTH})
    SCREENSHOT.parent.mkdir(exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    try:
        result = subprocess.run(
            ["node", str(E2E_SCRIPT), f"http://127.0.0.1:{port}/?{query}", str(SCREENSHOT),
             str(tmp_path / "result.png")],
            capture_output=True, text=True, timeout=300, check=False)
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, f"demo_e2e.js failed:\n{result.stderr[-4000:]}"
    stats = json.loads(result.stdout.strip().splitlines()[-1])

    assert SCREENSHOT.is_file() and SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (stats["content_width"], stats["content_height"]) == (256, 326)
    assert (stats["width"], stats["height"]) == (256, 326)  # the content's size and aspect
    assert stats["std"] > 0.05, "the result is blank"
    assert stats["mean_abs_diff"] > 0.05, "the result is the content"
    assert stats["first"]["status"].startswith("Done") and stats["download"].startswith("blob:")
    assert stats["second"]["tensors"] == stats["first"]["tensors"], "tensors leak per run"

    # The browser's blend and strength match the project's on the same images.
    content = load_rgb(CONTENT)
    vectors = [imported_model.predict_style(load_rgb(path)) for path in STYLES]
    vector = apply_strength(blend_style_vectors(vectors, [1 - BLEND, BLEND]),
                            imported_model.predict_style(content), STRENGTH)
    expected = imported_model.stylize(content, vector)
    actual = load_rgb(tmp_path / "result.png")
    assert actual.shape == expected.shape
    difference = float(np.abs(actual - expected).mean())
    assert difference < 0.02, f"the browser's result differs from the model's by {difference}"
