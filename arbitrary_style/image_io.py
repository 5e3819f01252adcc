"""Reading, writing and resizing images as float32 HxWx3 arrays in [0, 1] (Pillow + numpy).

Every problem caused by the user's files is reported as a one-line `UserError`.
"""

import glob
import os
import pathlib
import stat
import struct
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from arbitrary_style.atomic import atomic_file
from arbitrary_style.errors import UserError
from arbitrary_style.model_config import MAX_STYLE_ASPECT

DEFAULT_MAX_PIXELS = 100_000_000

SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}

READ_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
)

# Integer grayscale modes whose values are on a 0..65535 scale.
_SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})

# What Pillow's decoders raise for damaged or unsupported pixel data.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)


def is_image_file(path) -> bool:
    """Return True if `path` is a regular, non-hidden file with a common image extension.

    Hidden files (name starting with ".") are skipped: they are editor/OS debris
    such as macOS `._photo.jpg` or the temporary files that `save_image` writes.
    """
    name = os.path.basename(os.fspath(path))
    return (
        not name.startswith(".")
        and os.path.splitext(name)[1].lower() in READ_EXTENSIONS
        and os.path.isfile(path)
    )


# Video containers the stylize command reads (and an animated .gif, see `is_video_file`),
# and those it writes (arbitrary_style/video.py has their encoders).
VIDEO_READ_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".gif"})
VIDEO_SAVE_EXTENSIONS = (".mp4", ".webm", ".gif")


def is_video_file(path) -> bool:
    """True for a regular, non-hidden file with a video extension; a .gif only when it is
    animated (more than one frame)."""
    name = os.path.basename(os.fspath(path))
    extension = os.path.splitext(name)[1].lower()
    if name.startswith(".") or extension not in VIDEO_READ_EXTENSIONS or not os.path.isfile(path):
        return False
    if extension != ".gif":
        return True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return getattr(image, "n_frames", 1) > 1
    except (Image.DecompressionBombError, UnidentifiedImageError, *_DECODE_ERRORS):
        return False  # An image, then: `load_image` reports what is wrong with it.


def is_content_file(path) -> bool:
    """An image or a video file (what a content directory contributes)."""
    return is_image_file(path) or is_video_file(path)


def list_images(source, *, recursive=False, accept=is_image_file):
    """Sorted files that `accept` (default: image files) among a directory's entries (with
    `recursive`, its non-hidden subdirectories' too), a glob pattern's matches, or the one
    file `source` names; [] when there are none."""
    path = os.path.expanduser(os.fspath(source))
    if os.path.isdir(path):
        if recursive:
            candidates = []
            for root, dirs, names in os.walk(path):
                dirs[:] = [name for name in dirs if not name.startswith(".")]
                candidates.extend(os.path.join(root, name) for name in names)
        else:
            candidates = [os.path.join(path, name) for name in os.listdir(path)]
    elif os.path.exists(path):
        candidates = [path]
    else:
        candidates = glob.glob(path, recursive=recursive)
    return [pathlib.Path(c) for c in sorted(candidates) if accept(c)]


def load_image(path, *, max_pixels: int = DEFAULT_MAX_PIXELS, as_uint8=False) -> np.ndarray:
    """Load an image file as a float32 array of shape (H, W, 3) with values in [0, 1]
    (`as_uint8`: uint8 0..255, a quarter of the memory, for huge images).

    EXIF orientation is applied; transparency is composited onto white; grayscale,
    palette, CMYK, 1-bit, 16-bit and float images are converted to RGB (16-bit
    grayscale keeps its full precision). The size is checked against `max_pixels`
    from the header before any pixels are decoded.

    Raises:
        UserError: the path is missing or a directory, the file is not a readable
            image, it is truncated or corrupt, or it is empty or too large.
    """
    path = os.fspath(path)
    check_regular_file(path)
    try:
        with warnings.catch_warnings():
            # The size limit is enforced below with our own, configurable max_pixels.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                _check_size(image.size, path, max_pixels)
                image.load()
                image = ImageOps.exif_transpose(image)
                if as_uint8 and image.mode == "RGB":
                    return np.asarray(image)
                pixels = _to_rgb_array(image)
                return to_uint8(pixels) if as_uint8 else pixels
    except Image.DecompressionBombError as error:
        raise UserError(
            f"{path}: image is too large to decode safely ({_one_line(error)}); "
            "Pillow's own limit is PIL.Image.MAX_IMAGE_PIXELS"
        ) from error
    except UnidentifiedImageError as error:
        raise UserError(f"{path}: not an image file in a format Pillow can read") from error
    except PermissionError as error:
        raise UserError(f"{path}: cannot read file: permission denied") from error
    except _DECODE_ERRORS as error:
        raise UserError(
            f"{path}: cannot decode image, the file may be truncated or corrupt "
            f"({_one_line(error)})"
        ) from error


def check_regular_file(path, role="image") -> os.stat_result:
    """Raise UserError unless `path` is an existing regular file (checked with os.stat,
    which never blocks: opening a FIFO, socket or device could hang or read forever);
    returns its os.stat result. `role` names the file in the message ("style image", ...)."""
    path = os.fspath(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise UserError(f"{role} file not found: {path}") from None
    except OSError as error:
        raise UserError(f"{path}: cannot read file ({_one_line(error)})") from None
    mode = info.st_mode
    if not stat.S_ISREG(mode):
        kind = ("a directory" if stat.S_ISDIR(mode) else
                "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else
                "a socket" if stat.S_ISSOCK(mode) else
                "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else
                "not a regular file")
        raise UserError(f"{path}: expected a regular {role} file but got {kind}")
    return info


def probe_size(path):
    """(width, height) from the image header without decoding pixels, or None when the
    file cannot be read as an image (`load_image` then reports why)."""
    try:
        check_regular_file(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(os.fspath(path)) as image:
                return image.size
    except (UserError, Image.DecompressionBombError, UnidentifiedImageError,
            *_DECODE_ERRORS):
        return None


def save_image(image, path, *, quality: int = 95, clean=True) -> None:
    """Atomically write a float image of shape (H, W, 3) or (1, H, W, 3) in [0, 1] (or a
    uint8 one, written as is).

    Values are clipped and rounded to 8 bits. The format follows the extension
    (see `SAVE_FORMATS`); JPEG and WEBP use `quality`. The missing output directory
    is created. The file is written with `atomic.atomic_file` (with `clean`, after
    cleaning the directory of stale temporary files), so a failed write leaves no partial
    output and never damages an existing file.

    Raises:
        UserError: unsupported extension, or the file or directory cannot be written.
        ValueError: `image` does not have a supported shape.
    """
    path = os.fspath(path)
    extension = os.path.splitext(path)[1].lower()
    if extension not in SAVE_FORMATS:
        supported = ", ".join(SAVE_FORMATS)
        raise UserError(
            f"{path}: unsupported output extension {extension or '(none)'!r}; "
            f"use one of {supported}"
        )
    pixels = np.asarray(image)
    if pixels.dtype != np.uint8:
        pixels = pixels.astype(np.float32, copy=False)
    if pixels.ndim == 4 and pixels.shape[0] == 1:
        pixels = pixels[0]
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"expected an image of shape (H, W, 3), got {pixels.shape}")
    pixels = to_uint8(pixels)
    picture = Image.fromarray(pixels)
    fmt = SAVE_FORMATS[extension]
    options = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}

    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as error:
        raise UserError(
            f"{path}: cannot write to directory {directory} ({_one_line(error)})"
        ) from error
    try:
        with atomic_file(path, clean=clean) as temporary, open(temporary, "wb") as handle:
            picture.save(handle, format=fmt, **options)
    except OSError as error:
        raise UserError(f"{path}: cannot write image ({_one_line(error)})") from error


def _check_size(size, path, max_pixels):
    width, height = size
    if width <= 0 or height <= 0:
        raise UserError(f"{path}: image is empty ({width}x{height} pixels)")
    if width * height > max_pixels:
        raise UserError(
            f"{path}: image is {width}x{height} = {width * height:,} pixels, over the "
            f"limit of {max_pixels:,} pixels; raise it with --max_pixels (max_pixels= in "
            "Python)"
        )


def _to_rgb_array(image):
    """Convert an opened Pillow image of any supported mode to float32 (H, W, 3)."""
    if image.mode in _SIXTEEN_BIT_MODES or image.mode == "F":
        if image.mode == "F":
            gray = np.asarray(image, dtype=np.float64)
        else:
            gray = np.asarray(image.convert("I"), dtype=np.float64) / 65535.0
        gray = np.clip(gray, 0.0, 1.0).astype(np.float32)
        return np.repeat(gray[:, :, np.newaxis], 3, axis=2)
    if image.has_transparency_data:
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image.convert("RGBA"))
    return to_float(np.asarray(image.convert("RGB")))


def to_float(pixels):
    """uint8 pixels (0..255) as float32 in [0, 1]; float arrays as they are."""
    if pixels.dtype != np.uint8:
        return pixels
    values = pixels.astype(np.float32)
    values /= np.float32(255)  # In place: no second float copy (12 MiB at 1024 px).
    return values


def to_uint8(values):
    """Float values clipped to [0, 1] and rounded to uint8 0..255; uint8 as it is."""
    if values.dtype == np.uint8:
        return values
    return np.round(np.clip(values, 0.0, 1.0) * 255).astype(np.uint8)


def _one_line(error):
    """The error's message on one line (just the reason for OS errors, e.g. "Permission denied")."""
    text = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    return " ".join(text.split()) or type(error).__name__


def _rescale(image, scale):
    """Antialiased bilinear resize of [H,W,3] or [B,H,W,3] floats by `scale`."""
    height, width = image.shape[-3], image.shape[-2]
    return resize(image, (max(1, round(width * scale)), max(1, round(height * scale))))


def resize(image, size, resample=Image.BILINEAR):
    """Resizes [H,W,3] or [B,H,W,3] to `size` (w, h) with Pillow (antialiased when
    shrinking): uint8 as RGB images, floats per channel (bilinear: within 2e-5 of
    tf.image.resize(antialias=True))."""
    height, width = image.shape[-3], image.shape[-2]
    if image.dtype == np.uint8 and image.ndim == 3:
        return np.asarray(Image.fromarray(image).resize(size, resample))
    batch = np.asarray(image, np.float32).reshape(-1, height, width, 3)
    resized = [np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(one[..., c]), "F")
                                    .resize(size, resample)) for c in range(3)], -1)
               for one in batch]
    return np.stack(resized).reshape(*image.shape[:-3], size[1], size[0], 3)


def resize_short_side(image, size):
    """Resizes [H,W,3] or [B,H,W,3] so the shorter side is `size` (antialiased bilinear)."""
    return _rescale(image, size / min(image.shape[-3], image.shape[-2]))


def limit_long_side(image, max_size):
    """Shrinks [H,W,3] so the longer side is at most `max_size`; smaller images stay as they are."""
    long_side = max(image.shape[-3], image.shape[-2])
    return image if long_side <= max_size else _rescale(image, max_size / long_side)


def center_crop_aspect(image, max_aspect=MAX_STYLE_ASPECT):
    """Center-crops [H,W,3] or [B,H,W,3] so long side / short side <= `max_aspect`."""
    height, width = image.shape[-3], image.shape[-2]
    limit = max(1, int(min(height, width) * max_aspect))
    if height > limit:
        top = (height - limit) // 2
        image = image[..., top:top + limit, :, :]
    elif width > limit:
        left = (width - limit) // 2
        image = image[..., :, left:left + limit, :]
    return image


# The kernels of tf.image.rgb_to_yuv / yuv_to_rgb.
_RGB_TO_YUV = np.array([[0.299, -0.14714119, 0.61497538],
                        [0.587, -0.28886916, -0.51496512],
                        [0.114, 0.43601035, -0.10001026]], np.float32)
_YUV_TO_RGB = np.array([[1, 1, 1],
                        [0, -0.394642334, 2.03206185],
                        [1.13988303, -0.58062185, 0]], np.float32)


def transfer_luminance(content, stylized):
    """Keeps the content's colours: the stylized image's luma (Y) with the content's chroma (UV)."""
    merged = np.concatenate([np.asarray(stylized, np.float32) @ _RGB_TO_YUV[:, :1],
                             np.asarray(content, np.float32) @ _RGB_TO_YUV[:, 1:]], -1)
    return np.clip(merged @ _YUV_TO_RGB, 0.0, 1.0)
