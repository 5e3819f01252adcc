"""The core install (no extras but beam) runs every light command: TensorFlow and the other
modules of the `tensorflow` extra are made unimportable in the subprocesses here, as in a
venv without them; what needs them says which extra to install, in one line.

(.ci/run and tools/test also install a real core-only venv and stylize with it.)
"""

import json
import os
import re
import subprocess
import sys
import textwrap

import av
import numpy as np
import pytest
from PIL import Image

from arbitrary_style.extras import EXTRA_OF_MODULE

from conftest import CONTENT_DIR, STYLE_DIR

TENSORFLOW_EXTRA = sorted(m for m, extra in EXTRA_OF_MODULE.items() if extra == "tensorflow")
BLOCKER = textwrap.dedent(f"""
    import importlib.abc
    import sys

    BLOCKED = {TENSORFLOW_EXTRA!r}


    class NotInstalled(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.partition(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)


    sys.meta_path.insert(0, NotInstalled())
""")
STYLE = str(STYLE_DIR / "Camille_Mauclair.jpg")
CONTENT = str(CONTENT_DIR / "golden_gate_sq.jpg")


@pytest.fixture(scope="module")
def core_env(tmp_path_factory):
    """The environment of a process without the tensorflow extra (a sitecustomize.py on
    PYTHONPATH blocks its modules) and an empty cache."""
    root = tmp_path_factory.mktemp("core")
    (root / "site").mkdir()
    (root / "site" / "sitecustomize.py").write_text(BLOCKER)
    path = os.pathsep.join(filter(None, [str(root / "site"), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "ARBITRARY_STYLE_HOME": str(root / "home")}


def assert_needs_tensorflow_extra(stderr):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and re.fullmatch(
        r"error: this needs the 'tensorflow' extra \((keras|tensorflow) is not installed\): "
        r"pip install 'arbitrary_style\[tensorflow\]'", lines[0]), stderr


def run(args, env, cwd):
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True,
                          timeout=600, cwd=cwd)


def test_the_blocker_blocks(core_env, tmp_path):
    result = run(["-c", "import tensorflow"], core_env, tmp_path)
    assert result.returncode != 0 and "No module named 'tensorflow'" in result.stderr


def test_library_imports_without_tensorflow(core_env, tmp_path):
    modules = ["arbitrary_style", "arbitrary_style.pipeline", "arbitrary_style.backends.light",
               "arbitrary_style.stylize", "arbitrary_style.video", "arbitrary_style.tiling",
               "arbitrary_style.weights.store", "arbitrary_style.batch.transforms"]
    code = "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules)
    result = run(["-c", code + "import arbitrary_style as s; print(s.load_image)"],
                 core_env, tmp_path)
    assert result.returncode == 0, result.stderr


def test_stylize_an_image(core_env, tmp_path):
    result = run(["-m", "arbitrary_style.stylize", "--content", CONTENT, "--styles",
                  f"{STYLE}:0.7,{STYLE_DIR / 'pink_zigzag.jpg'}:0.3", "--strength", "0.8",
                  "--output", "out.png", "--json"], core_env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    summary = json.loads(result.stdout)
    assert summary["outputs"][0]["output_size"] == [256, 256]
    with Image.open(tmp_path / "out.png") as image:
        stylized = np.asarray(image.convert("RGB"), np.float32)
    with Image.open(CONTENT) as image:
        assert np.abs(stylized - np.asarray(image.convert("RGB"), np.float32)).mean() > 10


def test_stylize_with_a_builtin_tuned_style(core_env, tmp_path):
    """A built-in style resolves by @NAME without TensorFlow (light backend), silently; a
    style with per-layer norms is stylized with them (the pipeline's result with its
    offsets, not its vector alone)."""
    from arbitrary_style import backends, image_io, pipeline, specs, tuned_styles
    from arbitrary_style.weights import builtin

    names = tuned_styles.builtin_names()
    normed = [n for n in names if "norm_offsets" in tuned_styles.load(n)]
    plain = [n for n in names if n not in normed]
    assert normed and plain
    light = backends.load(builtin.directory(), "light")
    for name in (normed[:1] + plain[:1]):
        spec = f"@{name}:0.7,{STYLE}:0.3"
        result = run(["-m", "arbitrary_style.stylize", "--content", CONTENT, "--styles",
                      spec, "--output", f"{name}.png"], core_env, tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        styles = specs.parse_styles(spec)
        vector = pipeline.style_vector(light, styles)
        offsets = pipeline.norm_offsets(light, styles)
        assert (offsets is None) == (name in plain)
        expected = pipeline.Stylizer(light, vector, norm_offsets=offsets).image(CONTENT)[0]
        written = image_io.load_image(tmp_path / f"{name}.png")
        assert np.abs(written - expected).max() <= 1 / 255 + 1e-6
        if name in normed:
            vector_only = pipeline.Stylizer(light, vector).image(CONTENT)[0]
            assert np.abs(written - vector_only).mean() > 2 / 255


def test_stylize_a_video(core_env, tmp_path):
    clip = tmp_path / "clip.mp4"
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        photo = np.asarray(Image.open(CONTENT).convert("RGB").resize((96, 64)))
        for index in range(6):
            frame = np.roll(photo, 4 * index, axis=1)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    result = run(["-m", "arbitrary_style.stylize", "--content", str(clip), "--styles", STYLE,
                  "--output", "out.mp4", "--json"], core_env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["outputs"][0]["frames"] == 6
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 6


def test_a_beam_batch(core_env, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for index, path in enumerate(sorted(CONTENT_DIR.glob("*.jpg"))[:3]):
        Image.open(path).convert("RGB").resize((64 + 8 * index, 64)).save(photos / f"{index}.png")
    result = run(["-m", "arbitrary_style.batch", "--input", str(photos), "--styles", STYLE,
                  "--output", str(tmp_path / "out")], core_env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == [
        "0.png.png", "1.png.png", "2.png.png"]


@pytest.mark.parametrize("args", [
    ["-m", "arbitrary_style.stylize", "--content", CONTENT, "--styles", STYLE,
     "--backend", "tensorflow", "--output", "out.png"],
    ["-m", "arbitrary_style.optimize", "--content", CONTENT, "--styles", STYLE],
    ["-m", "training.train", "--help"],
    ["-m", "training.evaluate", "--weights", "magenta-mobile"],
    ["-m", "export.tflite", "--output_dir", "tflite"],
    ["-m", "export.saved_model", "--output", "saved"],
], ids=lambda args: args[1])
def test_what_needs_tensorflow_names_the_extra(core_env, tmp_path, args):
    result = run(args, core_env, tmp_path)
    assert result.returncode == 1
    assert_needs_tensorflow_extra(result.stderr)
    assert not (tmp_path / "out.png").exists()


def test_custom_weights_need_the_extra_to_build_their_graphs(core_env, tmp_path):
    weights = tmp_path / "mine"
    weights.mkdir()
    (weights / "config.json").write_text(json.dumps(
        {"format_version": 1, "backbone": "mobilenet_v2", "alpha": 0.25, "source": "mine"}))
    np.savez(weights / "weights.npz", x=np.zeros(3, np.float32))
    result = run(["-m", "arbitrary_style.stylize", "--content", CONTENT, "--styles", STYLE,
                  "--weights", str(weights), "--output", "out.png"], core_env, tmp_path)
    assert result.returncode == 1
    assert_needs_tensorflow_extra(result.stderr)
