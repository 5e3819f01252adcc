"""End-to-end tests of the command line: `python -m arbitrary_style.stylize`.

Most tests run the tool in a subprocess the way a user would (the default backend, the
default pretrained weights from the `weights_home` cache, the sample images); a subprocess
costs a few seconds, so each run is followed by several checks. A few check the `--styles`
parsing in-process. Flags here use absl's spelling with underscores (`--content_size`);
test_cli.py runs the dashed forms (`--content-size`, `--max-pixels`) end to end.
"""

import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from arbitrary_style import image_io
from arbitrary_style.errors import UserError
from arbitrary_style.specs import parse_styles

SAMPLES = pathlib.Path(__file__).resolve().parents[1] / "samples"
CONTENT = SAMPLES / "content" / "golden_gate_sq.jpg"  # 256x256
TALL_CONTENT = SAMPLES / "content" / "eiffel_tower.jpg"  # 256 wide, 326 high
OTHER_CONTENTS = [SAMPLES / "content" / name
                  for name in ("colva_beach_sq.jpg", "statue_of_liberty_sq.jpg")]
STYLE_A = SAMPLES / "style" / "dark_strokes.png"  # generated, 256 wide, 336 high
STYLE_B = SAMPLES / "style" / "pink_zigzag.jpg"
TWO_STYLES = f"{STYLE_A}:0.7,{STYLE_B}:0.3"

# TensorFlow's C++ logging (glog-style lines such as "I0000 00:00:17... port.cc:153] ...")
# and the two-line CPU-feature notice are printed by every run; they are not ours.
_TF_LOG_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d")
_TF_NOISE_PREFIXES = ("WARNING: All log messages before absl::InitializeLog()",
                      "To enable the following instructions:")


def run_cli(args, *, cwd, home):
    """Runs the stylize command in `cwd` with $ARBITRARY_STYLE_HOME=`home`."""
    return subprocess.run(
        [sys.executable, "-m", "arbitrary_style.stylize", *map(str, args)],
        cwd=cwd, env={**os.environ, "ARBITRARY_STYLE_HOME": str(home)},
        capture_output=True, text=True, timeout=300)


def our_stderr_lines(stderr):
    """Non-empty stderr lines minus TensorFlow's log noise; tqdm's '\\r' redraws split lines."""
    lines = []
    for line in re.split(r"[\r\n]", stderr):
        line = line.strip()
        if (not line or _TF_LOG_LINE.match(line) or "cpu_feature_guard" in line
                or line.startswith(_TF_NOISE_PREFIXES)):
            continue
        lines.append(line)
    return lines


def error_lines(stderr):
    return [line for line in our_stderr_lines(stderr) if line.startswith("error:")]


def describe(result):
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def assert_one_error_line(result, fragments=()):
    """A failed run: non-zero exit, no traceback, nothing on stdout, exactly one `error:`
    line on stderr holding every fragment. Returns that line."""
    assert result.returncode != 0, describe(result)
    assert "Traceback" not in result.stderr, describe(result)
    lines = our_stderr_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), describe(result)
    for fragment in fragments:
        assert fragment in lines[0], describe(result)
    assert result.stdout == "", describe(result)
    return lines[0]


def assert_ok(result):
    assert result.returncode == 0, describe(result)
    assert "Traceback" not in result.stderr, describe(result)
    assert error_lines(result.stderr) == [], describe(result)


def copy_file(source, target):
    """Copies bytes only (copies should be normal files, whatever the sources' modes)."""
    target = pathlib.Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(pathlib.Path(source).read_bytes())
    return target


def write_truncated_jpeg(source, target):
    data = pathlib.Path(source).read_bytes()
    target = pathlib.Path(target)
    target.write_bytes(data[: len(data) // 3])
    return target


def snapshot(directory):
    """{relative path: sha256} of every file below `directory`, hidden files included."""
    directory = pathlib.Path(directory)
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def chroma(image):
    """The U and V (colour) channels of an RGB float image, via PIL's YCbCr."""
    pixels = Image.fromarray(np.round(image * 255).astype(np.uint8)).convert("YCbCr")
    ycbcr = np.asarray(pixels, np.float32) / 255.0
    return ycbcr[..., 0], ycbcr[..., 1:]


def mean_abs(a, b):
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean())


def expected_stylization(model, strength=1.0, preserve_colors=False):
    """What the CLI should compute for CONTENT with TWO_STYLES, computed in-process."""
    from arbitrary_style.style_vectors import apply_strength, blend_style_vectors

    content = image_io.load_image(CONTENT)
    vector = blend_style_vectors([model.predict_style(image_io.load_image(STYLE_A), 256),
                                  model.predict_style(image_io.load_image(STYLE_B), 256)],
                                 [0.7, 0.3])
    if strength < 1.0:
        vector = apply_strength(vector, model.predict_style(content, 256), strength)
    return model.stylize(content, vector, preserve_colors=preserve_colors)


# --- one content image --------------------------------------------------------

@pytest.fixture(scope="module")
def plain_run(tmp_path_factory, weights_home):
    """One default run shared by several tests: two weighted styles, --json, default output."""
    work = tmp_path_factory.mktemp("plain_run")
    result = run_cli(["--content", CONTENT, "--styles", TWO_STYLES, "--json"],
                     cwd=work, home=weights_home)
    return result, work


def test_single_content_two_weighted_styles_json(plain_run, weights_home, imported_model):
    result, work = plain_run
    assert_ok(result)
    output = work / "golden_gate_sq_stylized.png"
    assert sorted(os.listdir(work)) == [output.name], "exactly one file, at the default name"
    with Image.open(output) as saved:
        assert saved.format == "PNG"
    content = image_io.load_image(CONTENT)
    stylized = image_io.load_image(output)
    assert stylized.shape == content.shape == (256, 256, 3)
    assert mean_abs(stylized, content) > 0.05, "the output is (almost) the content"
    assert stylized.std() > 0.02, "the output is blank"
    # The same computation in-process (measured: equal up to 8-bit rounding; swapping the
    # two style weights would be ~0.08 away).
    expected = expected_stylization(imported_model)
    assert np.abs(stylized - expected).max() < 0.01
    assert mean_abs(stylized, expected) < 0.003

    summary = json.loads(result.stdout)
    assert summary["weights"] == str(weights_home / "weights" / "magenta-mobile")
    assert summary["backbone"] == "mobilenet_v2" and summary["alpha"] == 0.25
    assert summary["styles"] == [
        {"path": str(STYLE_A), "weight": 0.7, "share": pytest.approx(0.7)},
        {"path": str(STYLE_B), "weight": 0.3, "share": pytest.approx(0.3)}]
    assert summary["strength"] == 1.0 and summary["preserve_colors"] is False
    assert summary["failed"] == []
    [entry] = summary["outputs"]
    assert entry["content"] == str(CONTENT)
    assert (work / entry["output"]).resolve() == output.resolve()
    assert entry["input_size"] == [256, 256] and entry["output_size"] == [256, 256]
    assert 0 < entry["seconds"] <= summary["seconds"] < 300


def test_jpg_output_with_preserve_colors_keeps_the_contents_chroma(
        plain_run, weights_home, imported_model, tmp_path):
    plain_result, plain_work = plain_run
    assert_ok(plain_result)
    result = run_cli(["--content", CONTENT, "--styles", TWO_STYLES, "--preserve_colors",
                      "--output", "kept_colours.jpg"], cwd=tmp_path, home=weights_home)
    assert_ok(result)
    output = tmp_path / "kept_colours.jpg"
    assert sorted(os.listdir(tmp_path)) == [output.name]
    assert "kept_colours.jpg" in result.stdout
    with Image.open(output) as saved:
        assert saved.format == "JPEG"
    content_luma, content_chroma = chroma(image_io.load_image(CONTENT))
    plain_luma, plain_chroma = chroma(
        image_io.load_image(plain_work / "golden_gate_sq_stylized.png"))
    kept = image_io.load_image(output)
    assert kept.shape == (256, 256, 3)
    kept_luma, kept_chroma = chroma(kept)
    # Colours come from the content (measured: ~0.003), unlike plain stylization (~0.14)...
    assert mean_abs(kept_chroma, content_chroma) < 0.015
    assert mean_abs(plain_chroma, content_chroma) > 0.05
    # ...while the brightness is still the stylized one (~0.006), not the content's (~0.19).
    assert mean_abs(kept_luma, plain_luma) < 0.03
    assert mean_abs(kept_luma, content_luma) > 0.1
    # In-process reference (measured ~0.007 after JPEG compression).
    assert mean_abs(kept, expected_stylization(imported_model, preserve_colors=True)) < 0.02


def test_webp_output_with_strength_zero_stays_close_to_the_content(
        plain_run, weights_home, imported_model, tmp_path):
    plain_result, plain_work = plain_run
    assert_ok(plain_result)
    result = run_cli(["--content", CONTENT, "--styles", TWO_STYLES, "--strength", "0",
                      "--output", "faint.webp", "--json"], cwd=tmp_path, home=weights_home)
    assert_ok(result)
    output = tmp_path / "faint.webp"
    assert sorted(os.listdir(tmp_path)) == [output.name]
    assert json.loads(result.stdout)["strength"] == 0.0
    with Image.open(output) as saved:
        assert saved.format == "WEBP"
    content = image_io.load_image(CONTENT)
    faint = image_io.load_image(output)
    full = image_io.load_image(plain_work / "golden_gate_sq_stylized.png")
    assert faint.shape == content.shape
    # Measured: strength 0 ~0.12 from the content, strength 1 ~0.26.
    assert mean_abs(faint, content) < 0.6 * mean_abs(full, content)
    assert faint.std() > 0.02
    # In-process reference (measured ~0.011 after WEBP compression; full strength ~0.29).
    assert mean_abs(faint, expected_stylization(imported_model, strength=0.0)) < 0.03


# --- several content images ---------------------------------------------------

def test_directory_repeated_flag_and_positional_contents(weights_home, tmp_path):
    photos = tmp_path / "photos"
    copy_file(CONTENT, photos / "golden_gate_sq.jpg")
    copy_file(TALL_CONTENT, photos / "eiffel_tower.jpg")
    (photos / "notes.txt").write_text("not an image\n")
    extra_a = copy_file(OTHER_CONTENTS[0], tmp_path / "extra" / "colva_beach_sq.jpg")
    extra_b = copy_file(OTHER_CONTENTS[1], tmp_path / "extra" / "statue_of_liberty_sq.jpg")
    result = run_cli(["--content", "photos", "--content", extra_a, extra_b,
                      "--styles", STYLE_A, "--output", "out/",
                      "--content_size", "128", "--style_size", "128"],
                     cwd=tmp_path, home=weights_home)
    assert_ok(result)
    assert "wrote 4 of 4 images to out" in result.stdout
    out = tmp_path / "out"
    assert sorted(os.listdir(out)) == ["colva_beach_sq_stylized.png",
                                       "eiffel_tower_stylized.png",
                                       "golden_gate_sq_stylized.png",
                                       "statue_of_liberty_sq_stylized.png"]
    assert sorted(os.listdir(tmp_path)) == ["extra", "out", "photos"]
    # --content_size 128 shrinks the longer side to 128, keeping the aspect ratio.
    tall = image_io.load_image(out / "eiffel_tower_stylized.png")
    assert tall.shape[0] == 128 and abs(tall.shape[1] - 128 * 256 / 326) <= 1
    for name in ("golden_gate_sq", "colva_beach_sq", "statue_of_liberty_sq"):
        stylized = image_io.load_image(out / f"{name}_stylized.png")
        assert stylized.shape == (128, 128, 3)
        assert stylized.std() > 0.02
    source = image_io.load_image(CONTENT)
    small = np.asarray(Image.fromarray(np.round(source * 255).astype(np.uint8))
                       .resize((128, 128), Image.BILINEAR), np.float32) / 255.0
    assert mean_abs(image_io.load_image(out / "golden_gate_sq_stylized.png"), small) > 0.05


def test_directory_with_a_corrupt_image_writes_the_others_and_fails(weights_home, tmp_path):
    photos = tmp_path / "photos"
    copy_file(CONTENT, photos / "golden_gate_sq.jpg")
    copy_file(TALL_CONTENT, photos / "eiffel_tower.jpg")
    write_truncated_jpeg(OTHER_CONTENTS[0], photos / "broken.jpg")
    result = run_cli(["--content", "photos", "--styles", STYLE_A],
                     cwd=tmp_path, home=weights_home)
    assert result.returncode != 0, describe(result)
    assert "Traceback" not in result.stderr
    # Several contents and no --output: ./stylized/
    out = tmp_path / "stylized"
    assert sorted(os.listdir(out)) == ["eiffel_tower_stylized.png", "golden_gate_sq_stylized.png"]
    for name in os.listdir(out):
        assert image_io.load_image(out / name).std() > 0.02
    assert "wrote 2 of 3 images" in result.stdout
    errors = error_lines(result.stderr)
    about_file = [line for line in errors if "broken.jpg" in line]
    assert len(about_file) == 1, describe(result)
    assert "truncated or corrupt" in about_file[0]
    assert all("golden_gate" not in line and "eiffel" not in line for line in errors)
    assert any("1 of 3" in line for line in errors), describe(result)


def test_directory_holding_one_image_still_writes_into_the_output_directory(
        weights_home, tmp_path):
    copy_file(CONTENT, tmp_path / "photos" / "golden_gate_sq.jpg")
    # `out` does not exist yet and has no extension: only the directory input says that
    # it is a directory, as it would for a directory of several images.
    result = run_cli(["--content", "photos", "--styles", STYLE_A, "--output", "out"],
                     cwd=tmp_path, home=weights_home)
    assert_ok(result)
    assert sorted(os.listdir(tmp_path / "out")) == ["golden_gate_sq_stylized.png"]
    assert sorted(os.listdir(tmp_path)) == ["out", "photos"]
    assert image_io.load_image(tmp_path / "out" / "golden_gate_sq_stylized.png").shape == (
        256, 256, 3)


# --- bad input: one line `error: ...`, exit non-zero, nothing written ---------------

def _missing_content(work, home):
    return ["--content", "missing.jpg", "--styles", STYLE_A], home, [
        "content image not found", "missing.jpg"]


def _text_file_named_jpg(work, home):
    (work / "notes.jpg").write_text("these are my notes, not a photo\n")
    return ["--content", "notes.jpg", "--styles", STYLE_A], home, [
        "notes.jpg", "not an image"]


def _truncated_content(work, home):
    write_truncated_jpeg(CONTENT, work / "broken.jpg")
    return ["--content", "broken.jpg", "--styles", STYLE_A], home, [
        "broken.jpg", "truncated or corrupt"]


def _missing_style(work, home):
    copy_file(CONTENT, work / "photo.jpg")
    return ["--content", "photo.jpg", "--styles", f"{STYLE_A}:0.5,nostyle.jpg:0.5"], home, [
        "style image file not found: nostyle.jpg"]


def _malformed_style_weight(work, home):
    return ["--content", CONTENT, "--styles", f"{STYLE_A}:abc"], home, [
        "--styles", "abc", "not a number"]


def _weights_dir_without_config(work, home):
    (work / "my_weights").mkdir()
    (work / "my_weights" / "readme.txt").write_text("nothing to see\n")
    return ["--content", CONTENT, "--styles", STYLE_A, "--weights", "my_weights"], home, [
        "my_weights", "not an arbitrary_style weights directory"]


def _weights_config_alpha_mismatch(work, home):
    target = work / "edited_weights"
    shutil.copytree(home / "weights" / "magenta-mobile", target)
    config = json.loads((target / "config.json").read_text())
    assert config["alpha"] != 1.0
    config["alpha"] = 1.0
    (target / "config.json").write_text(json.dumps(config))
    return ["--content", CONTENT, "--styles", STYLE_A, "--weights", target], home, [
        "weights.npz", "shape"]


def _no_cached_weights(work, home):
    return ["--content", CONTENT, "--styles", STYLE_A, "--weights", "magenta"], \
        work.parent / "empty_home", ["not in the cache", "python -m arbitrary_style.weights download"]


def _over_max_pixels(work, home):
    return ["--content", CONTENT, "--styles", STYLE_A, "--max_pixels", "1000"], home, [
        "over the limit of 1,000 pixels"]


def _output_is_the_content(work, home):
    content = copy_file(CONTENT, work / "photo.jpg")
    # A relative --content and an absolute --output naming the same file.
    return ["--content", "photo.jpg", "--styles", STYLE_A, "--output", content.resolve()], home, [
        "photo.jpg", "refusing to overwrite"]


def _tiny_content(work, home):
    Image.new("RGB", (12, 40), "red").save(work / "tiny.png")
    return ["--content", "tiny.png", "--styles", STYLE_A], home, [
        "tiny.png", "at least 16"]


def _file_output_for_several_contents(work, home):
    args = ["--content", CONTENT, OTHER_CONTENTS[0], "--styles", STYLE_A, "--output", "all.png"]
    return args, home, ["all.png", "need an output directory"]


def _unsupported_output_extension(work, home):
    return ["--content", CONTENT, "--styles", STYLE_A, "--output", "foo.gif"], home, [
        "foo.gif", "unsupported extension"]


@pytest.mark.parametrize("make_case", [
    _missing_content, _text_file_named_jpg, _truncated_content, _missing_style,
    _malformed_style_weight, _weights_dir_without_config, _weights_config_alpha_mismatch,
    _no_cached_weights, _over_max_pixels, _output_is_the_content, _unsupported_output_extension,
    _tiny_content, _file_output_for_several_contents,
], ids=lambda make: make.__name__.strip("_"))
def test_bad_input_is_one_error_line_and_writes_nothing(make_case, weights_home, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    args, home, fragments = make_case(work, weights_home)
    before = snapshot(work)
    result = run_cli(args, cwd=work, home=home)
    assert_one_error_line(result, fragments)
    # No output, no hidden temporary file, and every input byte-identical.
    assert snapshot(work) == before


@pytest.mark.parametrize("spec, fragment", [
    ("a.jpg:abc", "'abc' is not a number"),
    ("a.jpg:-1", "positive"),
    ("a.jpg:0", "positive"),
    ("a.jpg:nan", "positive"),
    ("a.jpg:inf", "positive"),
    (",", "missing the image path"),
    ("a.jpg,,b.jpg", "missing the image path"),
    (":0.5", "missing the image path"),
    ("", "--styles is required"),
])
def test_parse_styles_rejects_malformed_specs(spec, fragment):
    with pytest.raises(UserError) as excinfo:
        parse_styles(spec)
    message = str(excinfo.value)
    assert fragment in message and "\n" not in message


def test_parse_styles_reads_paths_and_weights(tmp_path, monkeypatch):
    assert parse_styles("a.jpg:0.7, b.jpg:0.3") == [
        (pathlib.Path("a.jpg"), 0.7), (pathlib.Path("b.jpg"), 0.3)]
    assert parse_styles("dir/a.jpg") == [(pathlib.Path("dir/a.jpg"), 1.0)]
    # A colon that is part of an existing file's name is not a weight separator.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "odd:2").write_bytes(b"")
    assert parse_styles("odd:2,b.jpg:2") == [(pathlib.Path("odd:2"), 1.0),
                                             (pathlib.Path("b.jpg"), 2.0)]


def test_out_of_range_flag_value_is_one_error_line(weights_home, tmp_path):
    result = run_cli(["--content", CONTENT, "--styles", STYLE_A, "--strength", "1.5"],
                     cwd=tmp_path, home=weights_home)
    assert_one_error_line(result, ["--strength", "[0.0, 1.0]"])
    assert os.listdir(tmp_path) == []


# --- help ---------------------------------------------------------------------------

def test_help(tmp_path):
    result = run_cli(["--help"], cwd=tmp_path, home=tmp_path / "empty_home")
    assert result.returncode == 0, describe(result)
    assert "--styles" in result.stdout and "--strength" in result.stdout
    assert "--content" in result.stdout and "preserve_colors" in result.stdout
    assert os.listdir(tmp_path) == []
