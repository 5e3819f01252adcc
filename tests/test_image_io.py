"""Tests for arbitrary_style.image_io (offline; images are generated with Pillow)."""

import os
import pathlib
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from arbitrary_style import image_io
from arbitrary_style.errors import UserError
from arbitrary_style.image_io import SAVE_FORMATS, is_image_file, load_image, save_image

SAMPLES = pathlib.Path(__file__).resolve().parents[1] / "samples"
CONTENT_JPEGS = sorted((SAMPLES / "content").glob("*.jpg"))


def _gradient(height=6, width=8):
    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    cols = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    return np.stack([rows * cols, np.broadcast_to(rows, (height, width)),
                     np.broadcast_to(cols, (height, width))], axis=-1).astype(np.float32)


def _assert_rgb_float(array, height, width):
    assert array.shape == (height, width, 3)
    assert array.dtype == np.float32
    assert array.min() >= 0.0 and array.max() <= 1.0


def _load(tmp_path, image, name, **save_options):
    path = tmp_path / name
    image.save(path, **save_options)
    return load_image(path)


def _assert_one_line_error(excinfo, path):
    message = str(excinfo.value)
    assert "\n" not in message
    assert pathlib.Path(path).name in message


# --- round trips -------------------------------------------------------------

@pytest.mark.parametrize("name, tolerance", [
    ("out.png", 0.5 / 255 + 1e-6),
    ("out.PNG", 0.5 / 255 + 1e-6),
    ("out.jpg", 0.08),
    ("out.jpeg", 0.08),
    ("out.webp", 0.08),
])
def test_round_trip(tmp_path, name, tolerance):
    image = _gradient(16, 24)
    save_image(image, tmp_path / name)
    loaded = load_image(tmp_path / name)
    _assert_rgb_float(loaded, 16, 24)
    assert np.abs(loaded - image).max() <= tolerance
    assert os.listdir(tmp_path) == [name]


def test_save_accepts_batch_of_one_clips_and_rounds(tmp_path):
    image = np.array([[[[-0.5, 0.5, 2.0], [0.1, 0.9, 1.0]]]], dtype=np.float64)
    save_image(image, tmp_path / "x.png")
    with Image.open(tmp_path / "x.png") as saved:
        assert saved.mode == "RGB"
        assert np.asarray(saved).tolist() == [[[0, 128, 255], [26, 230, 255]]]


def test_save_uses_format_and_quality(tmp_path, monkeypatch):
    saved = []
    original = Image.Image.save

    def recording_save(self, fp, format=None, **options):
        saved.append((format, options))
        return original(self, fp, format=format, **options)

    monkeypatch.setattr(Image.Image, "save", recording_save)
    for name in ("a.png", "b.jpg", "c.webp"):
        save_image(_gradient(), tmp_path / name, quality=80)
    assert saved == [("PNG", {}), ("JPEG", {"quality": 80}), ("WEBP", {"quality": 80})]
    assert set(SAVE_FORMATS) == {".png", ".jpg", ".jpeg", ".webp"}


def test_save_creates_missing_directory_and_overwrites(tmp_path):
    target = tmp_path / "new" / "nested" / "out.png"
    save_image(np.zeros((2, 3, 3)), target)
    save_image(np.ones((2, 3, 3)), target)
    assert load_image(target).min() == 1.0
    assert os.listdir(target.parent) == ["out.png"]


def test_saved_file_gets_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        save_image(np.zeros((2, 2, 3)), tmp_path / "out.png")
    finally:
        os.umask(old)
    assert (tmp_path / "out.png").stat().st_mode & 0o777 == 0o644


def test_save_rejects_bad_shape(tmp_path):
    with pytest.raises(ValueError):
        save_image(np.zeros((2, 2)), tmp_path / "out.png")


def test_real_jpegs_load_and_round_trip(tmp_path):
    for jpeg in CONTENT_JPEGS:
        with Image.open(jpeg) as original:
            width, height = original.size
        image = load_image(jpeg)
        _assert_rgb_float(image, height, width)
        assert image.std() > 0.05
    save_image(image, tmp_path / "copy.png")
    assert np.array_equal(load_image(tmp_path / "copy.png"), image)


# --- modes -------------------------------------------------------------------

def test_grayscale_l(tmp_path):
    image = Image.fromarray(np.array([[0, 51, 255]], dtype=np.uint8))
    loaded = _load(tmp_path, image, "gray.png")
    _assert_rgb_float(loaded, 1, 3)
    np.testing.assert_allclose(loaded[0, :, 0], [0.0, 0.2, 1.0], atol=1e-7)
    assert np.array_equal(loaded[..., 0], loaded[..., 2])


def test_grayscale_with_alpha_la(tmp_path):
    image = Image.new("LA", (2, 1))
    image.putpixel((0, 0), (0, 255))
    image.putpixel((1, 0), (0, 0))
    loaded = _load(tmp_path, image, "la.png")
    _assert_rgb_float(loaded, 1, 2)
    np.testing.assert_array_equal(loaded[0], [[0, 0, 0], [1, 1, 1]])


def test_palette_without_transparency(tmp_path):
    image = Image.new("P", (2, 1))
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.putpixel((1, 0), 1)
    loaded = _load(tmp_path, image, "p.png")
    np.testing.assert_array_equal(loaded[0], [[1, 0, 0], [0, 0, 1]])


@pytest.mark.parametrize("name", ["p.png", "p.gif"])
def test_palette_with_transparency(tmp_path, name):
    image = Image.new("P", (2, 1))
    image.putpalette([255, 0, 0, 0, 0, 0] + [0] * 762)
    image.putpixel((1, 0), 1)
    loaded = _load(tmp_path, image, name, transparency=1)
    np.testing.assert_array_equal(loaded[0], [[1, 0, 0], [1, 1, 1]])


def test_rgba_composites_onto_white(tmp_path):
    image = Image.new("RGBA", (3, 1))
    image.putpixel((0, 0), (10, 20, 30, 0))
    image.putpixel((1, 0), (255, 0, 0, 255))
    image.putpixel((2, 0), (0, 0, 0, 128))
    loaded = _load(tmp_path, image, "rgba.png")
    _assert_rgb_float(loaded, 1, 3)
    np.testing.assert_array_equal(loaded[0, 0], [1, 1, 1])
    np.testing.assert_array_equal(loaded[0, 1], [1, 0, 0])
    np.testing.assert_allclose(loaded[0, 2], [0.5, 0.5, 0.5], atol=1 / 255)


def test_cmyk_pure_cyan(tmp_path):
    image = Image.new("CMYK", (2, 2), (255, 0, 0, 0))
    loaded = _load(tmp_path, image, "cmyk.jpg", quality=100)
    _assert_rgb_float(loaded, 2, 2)
    np.testing.assert_allclose(loaded, np.broadcast_to([0.0, 1.0, 1.0], (2, 2, 3)), atol=0.03)


def test_sixteen_bit_png_keeps_full_precision(tmp_path):
    values = np.array([[0, 1, 32768, 65535]], dtype=np.uint16)
    path = tmp_path / "g16.png"
    Image.fromarray(values).save(path)
    with Image.open(path) as opened:
        assert opened.mode.startswith("I")
    loaded = load_image(path)
    _assert_rgb_float(loaded, 1, 4)
    np.testing.assert_allclose(loaded[0, :, 1], values[0] / 65535.0, rtol=0, atol=1e-7)
    assert loaded[0, 1, 0] > 0  # 1/65535 would be 0 if truncated to 8 bits
    assert loaded[0, 3, 0] == 1.0
    assert np.array_equal(loaded[..., 0], loaded[..., 2])


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I"])
def test_sixteen_bit_tiff_modes(tmp_path, mode):
    image = Image.new(mode, (3, 1))
    for x, value in enumerate([0, 32768, 65535]):
        image.putpixel((x, 0), value)
    path = tmp_path / "g.tif"
    image.save(path)
    with Image.open(path) as opened:
        assert opened.mode == mode
    loaded = load_image(path)
    _assert_rgb_float(loaded, 1, 3)
    np.testing.assert_allclose(loaded[0, :, 0], [0.0, 32768 / 65535, 1.0], rtol=0, atol=1e-7)


def test_float_mode_is_clipped(tmp_path):
    image = Image.fromarray(np.array([[-0.5, 0.25, 3.0]], dtype=np.float32))
    assert image.mode == "F"
    loaded = _load(tmp_path, image, "f.tif")
    _assert_rgb_float(loaded, 1, 3)
    np.testing.assert_allclose(loaded[0, :, 0], [0.0, 0.25, 1.0])


def test_one_bit(tmp_path):
    image = Image.new("1", (2, 1))
    image.putpixel((1, 0), 1)
    loaded = _load(tmp_path, image, "bw.png")
    np.testing.assert_array_equal(loaded[0], [[0, 0, 0], [1, 1, 1]])


def test_bmp(tmp_path):
    loaded = _load(tmp_path, Image.new("RGB", (3, 2), (0, 255, 0)), "x.bmp")
    np.testing.assert_array_equal(loaded, np.broadcast_to([0, 1, 0], (2, 3, 3)))


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (4, 2), (0, 0, 0))
    image.putpixel((0, 0), (255, 0, 0))  # top-left of the stored 4x2 pixels
    exif = image.getexif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    loaded = _load(tmp_path, image, "rotated.png", exif=exif)
    _assert_rgb_float(loaded, 4, 2)
    np.testing.assert_array_equal(loaded[0, 1], [1, 0, 0])  # now top-right
    assert loaded.sum() == 1.0


# --- errors ------------------------------------------------------------------

def test_missing_file(tmp_path):
    path = tmp_path / "nope.png"
    with pytest.raises(UserError, match="not found") as excinfo:
        load_image(path)
    _assert_one_line_error(excinfo, path)


def test_directory(tmp_path):
    path = tmp_path / "folder.jpg"
    path.mkdir()
    with pytest.raises(UserError, match="directory") as excinfo:
        load_image(path)
    _assert_one_line_error(excinfo, path)


def test_text_file_renamed_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("these are not pixels\nsecond line\n")
    with pytest.raises(UserError, match="not an image") as excinfo:
        load_image(path)
    _assert_one_line_error(excinfo, path)


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(UserError) as excinfo:
        load_image(path)
    _assert_one_line_error(excinfo, path)


def test_truncated_jpeg(tmp_path):
    path = tmp_path / "cut.jpg"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="truncated") as excinfo:
        load_image(path)
    _assert_one_line_error(excinfo, path)


def test_zero_sized_image(tmp_path):
    def chunk(kind, data):
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    path = tmp_path / "empty.png"
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 3, 8, 2, 0, 0, 0))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b""))
                     + chunk(b"IEND", b""))
    with pytest.raises(UserError) as excinfo:
        load_image(path)
    _assert_one_line_error(excinfo, path)


def test_zero_sized_image_reported_as_empty(tmp_path, monkeypatch):
    path = tmp_path / "empty.tif"
    path.write_bytes(b"placeholder")
    monkeypatch.setattr(image_io.Image, "open", lambda fp: Image.new("RGB", (0, 3)))
    with pytest.raises(UserError, match="empty") as excinfo:
        load_image(path)
    _assert_one_line_error(excinfo, path)


def test_image_over_max_pixels_is_rejected_before_decoding(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("RGB", (20, 10)).save(path)
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("pixels decoded"))
    with pytest.raises(UserError) as excinfo:
        load_image(path, max_pixels=199)
    _assert_one_line_error(excinfo, path)
    message = str(excinfo.value)
    assert "20x10" in message and "199" in message and "--max_pixels" in message


def test_image_at_max_pixels_loads(tmp_path):
    path = tmp_path / "ok.png"
    Image.new("RGB", (20, 10)).save(path)
    assert load_image(path, max_pixels=200).shape == (10, 20, 3)


def test_pillow_decompression_bomb_becomes_user_error(tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    Image.new("RGB", (20, 10)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)
    with pytest.raises(UserError, match="too large.*MAX_IMAGE_PIXELS") as excinfo:
        load_image(path, max_pixels=10**9)
    _assert_one_line_error(excinfo, path)


def test_save_unsupported_extension(tmp_path):
    path = tmp_path / "out.bmp"
    with pytest.raises(UserError) as excinfo:
        save_image(np.zeros((2, 2, 3)), path)
    _assert_one_line_error(excinfo, path)
    for extension in SAVE_FORMATS:
        assert extension in str(excinfo.value)
    assert os.listdir(tmp_path) == []


def test_save_into_path_under_a_file(tmp_path):
    (tmp_path / "blocker").write_text("x")
    path = tmp_path / "blocker" / "out.png"
    with pytest.raises(UserError) as excinfo:
        save_image(np.zeros((2, 2, 3)), path)
    _assert_one_line_error(excinfo, path)


def test_save_into_read_only_directory(tmp_path, monkeypatch):
    """The OS refuses the temporary file (as in a read-only directory; root ignores chmod)."""
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(image_io, "atomic_file", refuse)
    with pytest.raises(UserError, match="cannot write.*Permission denied") as excinfo:
        save_image(np.zeros((2, 2, 3)), tmp_path / "out.png")
    _assert_one_line_error(excinfo, tmp_path / "out.png")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("failure", [OSError("No space left on device"), KeyboardInterrupt()])
def test_failed_save_leaves_no_partial_file(tmp_path, monkeypatch, failure):
    target = tmp_path / "out.jpg"
    target.write_bytes(b"previous contents")

    def failing_save(self, fp, *args, **kwargs):
        fp.write(b"partial image data")
        raise failure

    monkeypatch.setattr(Image.Image, "save", failing_save)
    expected = UserError if isinstance(failure, OSError) else KeyboardInterrupt
    with pytest.raises(expected) as excinfo:
        save_image(_gradient(), target)
    if expected is UserError:
        _assert_one_line_error(excinfo, target)
    assert os.listdir(tmp_path) == ["out.jpg"]
    assert target.read_bytes() == b"previous contents"


def test_failed_save_to_new_file_leaves_nothing(tmp_path, monkeypatch):
    def failing_replace(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(image_io.os, "replace", failing_replace)
    with pytest.raises(UserError, match="Permission denied"):
        save_image(_gradient(), tmp_path / "out.png")
    assert os.listdir(tmp_path) == []


# --- is_image_file -----------------------------------------------------------

def test_is_image_file(tmp_path):
    for name in ("a.png", "b.JPG", "c.jpeg", "d.webp", "e.bmp", "f.tif", "g.TIFF", "h.gif",
                 "notes.txt", "noext", ".hidden.png"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "dir.png").mkdir()
    found = sorted(p.name for p in tmp_path.iterdir() if is_image_file(p))
    assert found == ["a.png", "b.JPG", "c.jpeg", "d.webp", "e.bmp", "f.tif", "g.TIFF", "h.gif"]
    assert is_image_file(str(tmp_path / "a.png"))
    assert not is_image_file(tmp_path / "missing.png")
