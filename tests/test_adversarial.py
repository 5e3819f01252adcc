"""Adversarial input to `python -m arbitrary_style.stylize`: one table of cases.

Each case builds its inputs in a fresh directory and runs the CLI in a subprocess (helpers
from test_stylize_cli). A failing case must exit non-zero with exactly one `error:` line on
stderr naming the problem, no traceback and no file written; a succeeding case must write a
real image. Cases refused while parsing flags or before the model loads cost ~2 s each.
"""

import io
import os
import pathlib
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from arbitrary_style import image_io, memory
from arbitrary_style.errors import UserError
from arbitrary_style.specs import parse_styles, plan_outputs, styles_from_flags
from arbitrary_style.style_vectors import blend_style_vectors
from test_stylize_cli import (CONTENT, STYLE_A, STYLE_B, assert_one_error_line, copy_file,
                              describe, our_stderr_lines, run_cli, snapshot)


@pytest.fixture(scope="session")
def huge_png(tmp_path_factory):
    """A 9000x9000 single-colour PNG (81 Mpx, a few hundred KB on disk), made once."""
    path = tmp_path_factory.mktemp("huge") / "huge.png"
    Image.new("RGB", (9000, 9000), (120, 30, 200)).save(path)
    return path


def _png(path, size, colour=(200, 120, 40)):
    Image.new("RGB", size, colour).save(path)
    return path


def _noisy_png(path, width, height, seed=0):
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def _fifo(path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    os.mkfifo(path)
    return path


def _truncated_png(path):
    _noisy_png(path.with_suffix(".full.png"), 64, 64)
    data = path.with_suffix(".full.png").read_bytes()
    path.with_suffix(".full.png").unlink()
    path.write_bytes(data[: len(data) // 2])
    return path


def _gif_bomb(path, side=65535):
    """A 4x4 GIF whose header declares a side x side logical screen (Pillow refuses to
    open it: DecompressionBombError)."""
    buffer = io.BytesIO()
    Image.new("P", (4, 4)).save(buffer, "GIF")
    data = bytearray(buffer.getvalue())
    data[6:10] = struct.pack("<HH", side, side)
    path.write_bytes(bytes(data))
    return path


def base(*extra, styles=STYLE_A, content=CONTENT, output="out.png"):
    return ["--content", content, "--styles", styles, "--output", output, *extra]


# (id, argv builder(work, huge_png) -> argv, expected error substrings; None = succeeds)
CASES = [
    ("missing_content", lambda w, h: base(content="missing.png"),
     ["content image not found", "missing.png"]),
    ("truncated_png", lambda w, h: base(content=_truncated_png(w / "broken.png")),
     ["broken.png", "truncated or corrupt"]),
    ("non_image_file", lambda w, h: (w / "notes.png").write_text("notes\n") and base(
        content=w / "notes.png"), ["notes.png", "not an image"]),
    ("fifo_content", lambda w, h: base(content=_fifo(w / "pipe.png")), ["pipe.png", "FIFO"]),
    ("fifo_style", lambda w, h: base(styles=_fifo(w / "pipe.jpg")), ["pipe.jpg", "FIFO"]),
    ("directory_as_style", lambda w, h: (w / "styles_dir").mkdir() or base(
        styles=w / "styles_dir"), ["styles_dir", "directory"]),
    ("absurd_style_size", lambda w, h: base("--style_size", "100000"),
     ["--style_size", "1024"]),
    ("content_size_over_bound", lambda w, h: base("--content_size", "9000"),
     ["--content_size", "8192"]),
    ("negative_content_size", lambda w, h: base("--content_size", "-1"), ["--content_size"]),
    ("nan_strength", lambda w, h: base("--strength", "nan"), ["--strength", "finite"]),
    ("inf_strength", lambda w, h: base("--strength", "inf"), ["--strength"]),
    ("nan_weight", lambda w, h: base(styles=f"{STYLE_A}:nan"), ["weight", "positive"]),
    ("inf_weight", lambda w, h: base(styles=f"{STYLE_A}:inf"), ["weight", "positive"]),
    ("negative_weight", lambda w, h: base(styles=f"{STYLE_A}:-1"), ["weight", "positive"]),
    ("zero_weight", lambda w, h: base(styles=f"{STYLE_A}:0"), ["weight", "positive"]),
    ("nan_style_weight", lambda w, h: base("--style", STYLE_B, "--style_weight", "nan"),
     ["--style_weight", "finite"]),
    ("style_weight_count_mismatch", lambda w, h: ["--content", CONTENT, "--style", STYLE_A,
                                                 "--style_weight", "1", "--style_weight", "2"],
     ["1 --style but 2 --style_weight"]),
    ("spec_empty_weight", lambda w, h: base(styles="a.jpg:"), ["a.jpg:", "not a number"]),
    ("spec_missing_path", lambda w, h: base(styles=":0.5"), ["missing the image path"]),
    ("spec_weight_not_number", lambda w, h: base(styles="a.jpg:x"), ["'x' is not a number"]),
    ("spec_empty", lambda w, h: base(styles=""), ["--styles is required"]),
    ("malformed_max_memory", lambda w, h: base("--max_memory", "lots"), ["--max_memory"]),
    ("content_over_memory_budget", lambda w, h: base(
        "--content_size", "0", "--max_memory", "1.2G", content=h),
     ["huge.png", "9000x9000", "GiB of memory", "1.2 GiB", "--max_memory", "tiled needs",
      "--content_size"]),
    ("content_too_big_to_decode_in_budget", lambda w, h: base(
        "--max_memory", "100M", content=h), ["huge.png", "1024x1024", "decoding", "smaller"]),
    # Reliability round 3 (issue 24).
    ("content_name_300_characters", lambda w, h: base(content="c" * 300 + ".png"),
     ["content image not found"]),
    ("content_name_5000_characters", lambda w, h: base(content="c" * 5000 + ".png"),
     ["content image not found"]),
    ("output_name_300_characters", lambda w, h: base(output="o" * 300 + ".png"),
     ["--output", "304 bytes", "255"]),
    ("output_directory_name_300_characters", lambda w, h: base(output="d" * 300 + "/"),
     ["--output", "300 bytes"]),
    ("style_name_5000_characters", lambda w, h: base(styles="s" * 5000 + ".jpg:0.5"),
     ["File name too long"]),
    ("style_weight_5000_digits", lambda w, h: base(styles=f"{STYLE_A}:" + "1" * 5000),
     ["weight", "positive finite"]),
    ("nan_stroke_scale", lambda w, h: base("--stroke_scale", "nan"),
     ["--stroke_scale nan", "finite"]),
    ("nan_temporal_smoothing", lambda w, h: base("--temporal_smoothing", "nan"),
     ["--temporal_smoothing nan", "finite"]),
    ("inf_style_weight", lambda w, h: ["--content", CONTENT, "--style", STYLE_A,
                                       "--style_weight", "inf"], ["--style_weight inf", "finite"]),
    ("gif_with_a_65535_square_screen", lambda w, h: base(content=_gif_bomb(w / "bomb.gif")),
     ["bomb.gif", "too large to decode safely"]),
    # Succeeding cases.
    ("wide_style_50000x3", lambda w, h: base(styles=_noisy_png(w / "strip.png", 50000, 3)),
     None),
    ("comma_path_via_style_flag", lambda w, h: [
        "--content", CONTENT, "--style", copy_file(STYLE_A, w / "a,b:c.jpg"),
        "--style", STYLE_B, "--style_weight", "2", "--style_weight", "1",
        "--output", "out.png"], None),
    ("huge_weights_normalised", lambda w, h: base(styles=f"{STYLE_A}:1e308,{STYLE_B}:1e308"),
     None),
    ("tile_8192_on_256_pixels_is_one_pass", lambda w, h: base("--tile", "8192"), None),
    ("tile_of_20_digits_is_one_pass", lambda w, h: base("--tile", "9" * 20), None),
]


@pytest.mark.parametrize("build, fragments", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_adversarial_input(build, fragments, weights_home, huge_png, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    args = build(work, huge_png)
    before = snapshot(work)
    result = run_cli(args, cwd=work, home=weights_home)
    assert "Traceback" not in result.stderr, describe(result)
    if fragments is None:
        assert result.returncode == 0, describe(result)
        stylized = image_io.load_image(work / "out.png")
        assert stylized.shape == (256, 256, 3)
        assert stylized.std() > 0.02 and stylized.mean() > 0.05, "blank or black output"
        return
    assert_one_error_line(result, fragments)
    assert snapshot(work) == before
    assert not (work / "out.png").exists()


# --- in-process checks of the pieces -------------------------------------------------

def test_parse_styles_escaped_commas_and_colon_paths():
    assert parse_styles(r"a\,b.jpg:0.5,c.jpg") == [(pathlib.Path("a,b.jpg"), 0.5),
                                                   (pathlib.Path("c.jpg"), 1.0)]
    # The text after the last colon is a weight only when it is a number.
    assert parse_styles("x:y.jpg,dir:1/z.jpg:2") == [(pathlib.Path("x:y.jpg"), 1.0),
                                                     (pathlib.Path("dir:1/z.jpg"), 2.0)]
    assert parse_styles("b.jpg:1e308") == [(pathlib.Path("b.jpg"), 1e308)]


def test_styles_from_flags_pairs_style_and_weights():
    assert styles_from_flags(None, ["a,b.jpg", "c:d.jpg"], [0.25, 4]) == [
        (pathlib.Path("a,b.jpg"), 0.25), (pathlib.Path("c:d.jpg"), 4.0)]
    assert styles_from_flags("x.jpg:2", ["y.jpg"], None) == [
        (pathlib.Path("x.jpg"), 2.0), (pathlib.Path("y.jpg"), 1.0)]
    with pytest.raises(UserError, match="--styles is required"):
        styles_from_flags(None, None, None)


def test_blend_with_huge_weights_stays_finite():
    vectors = np.stack([np.full(100, 3.0), np.full(100, -1.0)]).astype(np.float32)
    blended = blend_style_vectors(vectors, [1e308, 1e308])
    assert np.all(np.isfinite(blended)) and np.allclose(blended, 1.0)


def test_center_crop_aspect_bounds_style_strips():
    assert image_io.center_crop_aspect(np.zeros((3, 50000, 3))).shape == (3, 12, 3)
    assert image_io.center_crop_aspect(np.zeros((50000, 3, 3))).shape == (12, 3, 3)
    assert image_io.center_crop_aspect(np.zeros((2, 100, 400, 3))).shape == (2, 100, 400, 3)
    strip = np.arange(20, dtype=np.float32).reshape(1, 20, 1).repeat(3, axis=2)
    assert image_io.center_crop_aspect(strip)[0, :, 0].tolist() == [8.0, 9.0, 10.0, 11.0]


def test_fifo_is_refused_without_opening_it(tmp_path):
    pipe = _fifo(tmp_path / "pipe.png")
    assert not image_io.is_image_file(pipe)
    with pytest.raises(UserError, match="FIFO"):
        image_io.load_image(pipe)  # Before the fix this blocked forever.
    assert image_io.probe_size(pipe) is None


_PEAK_SCRIPT = """
import sys
import numpy as np
from arbitrary_style import backends, memory, pipeline
from arbitrary_style.weights import builtin


def status(field):  # kB
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) for line in lines if line.startswith(field))


side, moments = int(sys.argv[1]), sys.argv[2] == "moments"
model = backends.load(builtin.directory(), "light")
vector = np.zeros(100, np.float32)
given = np.zeros(model.moments_size, np.float32)


def stylize(content):  # the plain graph, or the one that takes and returns moments
    if moments:
        return model.stylize_with_moments(content, vector, given, 1.0)
    return pipeline.Stylizer(model, vector).array(content)


stylize(np.zeros((64, 64, 3), np.float32))  # sessions and arenas set up
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # the peak RSS (VmHWM) starts again from the current RSS
before = status("VmRSS:")
pixels = np.random.default_rng(0).integers(0, 256, (side, side, 3), np.uint8)
stylize(pixels.astype(np.float32) / 255)  # decoding's copy, then one pass
peak = (status("VmHWM:") - before) * 1024
print(peak, memory.estimate_stylize_bytes((side, side), (side, side), model.config.alpha,
                                          moments))
"""


@pytest.mark.parametrize("side, graph", [(512, "plain"), (1024, "plain"),
                                         (1024, "moments")])
def test_memory_estimate_covers_the_measured_peak(side, graph):
    """The plan's estimate is an upper bound of a real stylization's peak (the growth of a
    fresh process's peak RSS over one light pass and loading's copy), and not a loose one:
    for the plain graph, and for the moments graph that tiles use."""
    result = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT, str(side), graph],
                            capture_output=True, text=True, timeout=300,
                            cwd=pathlib.Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr
    peak, estimate = map(int, result.stdout.split())
    assert peak <= estimate <= 1.5 * peak, (peak / side**2, estimate / side**2)


# --- reliability round 3 (issue 24): in-process checks --------------------------------

def test_a_gif_bomb_in_a_folder_is_an_image_that_load_image_refuses(tmp_path):
    bomb = _gif_bomb(tmp_path / "bomb.gif")
    _png(tmp_path / "good.png", (64, 64))
    assert not image_io.is_video_file(bomb)  # Before the fix: DecompressionBombError.
    assert image_io.list_images(tmp_path, accept=image_io.is_content_file) == [
        bomb, tmp_path / "good.png"]
    with pytest.raises(UserError, match="too large to decode safely"):
        image_io.load_image(bomb)


def test_a_tile_as_large_as_the_image_is_one_pass():
    whole = memory.plan((256, 256), (256, 256), 0.25, budget=10**9)
    for tile in (256, 8192, 10**20):
        assert memory.plan((256, 256), (256, 256), 0.25, budget=10**9, tile=tile) == whole
    assert memory.plan((600, 600), (600, 600), 0.25, tile=512).tiles == 4


def test_a_forced_tile_over_the_budget_says_so(tmp_path):
    """The whole image fits the budget, tiles of the asked size do not: the message says
    that (it used to report the whole image's smaller need as over the budget)."""
    path = _png(tmp_path / "big.png", (2048, 2048))
    side = (2048, 2048)
    whole = memory.estimate_stylize_bytes(side, side, 0.25)
    least_tiled = min(memory.tiled_bytes(side, side, side, 2000, thumbnail, 0.25)
                      for thumbnail in memory.THUMBNAIL_SIZES)
    assert whole < least_tiled
    with pytest.raises(UserError, match="by tiles of 2000 pixels .* smaller --tile"):
        memory.plan_file(path, 0.25, 0, (whole + least_tiled) // 2, tile=2000)


def test_default_output_names_fit_the_file_system(tmp_path):
    content = tmp_path / ("c" * 250 + ".png")
    outputs = plan_outputs([content, tmp_path / ("c" * 250 + ".jpg")], [], None)
    assert [len(path.name.encode()) <= 255 for path in outputs] == [True, True]
    assert outputs[0] != outputs[1] and outputs[0].name.endswith("_stylized.png")


def _weights_copy(home, directory):
    source = pathlib.Path(home) / "weights" / "magenta-mobile"
    directory.mkdir()
    shutil.copy(source / "config.json", directory / "config.json")
    return directory, source / "weights.npz"


def _weights_with(value):
    def build(home, directory):
        directory, original = _weights_copy(home, directory)
        with np.load(original) as archive:
            arrays = {key: archive[key] for key in archive.files}
        name = sorted(key for key in arrays if key.startswith("MobilenetV2/"))[0]
        arrays[name] = arrays[name].copy()
        arrays[name].flat[0] = value
        np.savez(directory / "weights.npz", **arrays)
        return directory, name
    return build


def _weights_file_linked_to(target):
    def build(home, directory):
        directory, _ = _weights_copy(home, directory)
        if callable(target):
            target(directory / "weights.npz")
        else:
            (directory / "weights.npz").symlink_to(target)
        return directory, "weights.npz"
    return build


@pytest.mark.parametrize("build, fragments", [
    (_weights_with(np.nan), ["non-finite", "NaN or inf"]),
    (_weights_with(np.inf), ["non-finite"]),
    (_weights_file_linked_to("/dev/zero"), ["weights.npz", "a device"]),
    (_weights_file_linked_to(_fifo), ["weights.npz", "FIFO"]),
], ids=["nan_tensor", "inf_tensor", "link_to_dev_zero", "fifo"])
def test_damaged_weights_are_refused_with_one_line(build, fragments, weights_home, tmp_path):
    """Before the fix: NaN gave a black image and inf a garbage one (exit 0); /dev/zero and
    a FIFO hung forever hashing the file."""
    work = tmp_path / "work"
    work.mkdir()
    directory, name = build(weights_home, tmp_path / "bad_weights")
    result = run_cli(base("--weights", directory), cwd=work, home=weights_home)
    assert_one_error_line(result, [name, *fragments])
    assert not (work / "out.png").exists()


def test_an_unwritable_graph_cache_is_warned_about_once(weights_home, tmp_path):
    """A file where the graph cache should be: the run falls back to TensorFlow and says so
    in one warning line (it used to be silent, each run paying the TensorFlow path)."""
    home = tmp_path / "home"
    shutil.copytree(pathlib.Path(weights_home) / "weights", home / "weights")
    (home / "graphs").write_text("in the way\n")
    work = tmp_path / "work"
    work.mkdir()
    result = run_cli(base(), cwd=work, home=home)
    assert result.returncode == 0, describe(result)
    warnings = [line for line in our_stderr_lines(result.stderr) if line.startswith("warning:")]
    assert len(warnings) == 1 and "TensorFlow backend" in warnings[0], describe(result)
    assert image_io.load_image(work / "out.png").shape == (256, 256, 3)
