"""tf.data pipelines of content and style images for the training, distillation and eval jobs.

Every dataset built here yields float32 batches of shape [batch_size, image_size, image_size, 3]
with values in [0, 1] (partial batches are dropped).

Source strings (one syntax for content and style images):

* An existing directory: every image file below it, recursively (hidden files and
  directories are ignored; extensions as in `arbitrary_style.image_io.is_image_file`).
* An existing image file, or a glob pattern such as `photos/*.jpg` or `art/**/*.png`
  (`**` matches any number of directories).
* A tensorflow-datasets builder: `NAME[/CONFIG][:VERSION][@SPLIT]`, for example
  `imagenet2012`, `coco/2017@validation`, `dtd:3.*.*@train[:50%]`, `dtd@train+validation`.
  SPLIT uses the tfds split syntax and defaults to `train`; the `image` feature is read.
  The dataset is loaded with `tfds.load(..., data_dir=data_dir)`, which prepares it there
  first (downloading if tfds knows how) when it is not prepared yet.

An existing path always means files; otherwise a registered tfds builder name means tfds;
otherwise a pattern with glob characters means files. Anything else is a `UserError`.

Files are decoded by `arbitrary_style.image_io.load_image`, the project's one image decoder.
An unreadable file is skipped with a warning and recorded, once, in the `SkipCounter`
returned next to the dataset. A source whose files are all unreadable is a `UserError` when
the dataset is built; should the readable files vanish later, iterating raises a
`tf.errors.OpError` with the same message instead of looping forever.

Randomness (shuffling, crops, style augmentation) comes from seeded tf.data ops and stateless
image ops: two datasets built with the same non-None seed yield the same batches.

File pipelines run Python (`tf.py_function`) in tf.data's threads. Like any such pipeline,
an iterator still alive when the interpreter shuts down can hang TensorFlow's exit: iterate
inside a function (or `del` the iterator) rather than keep one in a module-level variable.
"""

import dataclasses
import glob
import os
import re
import threading

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from absl import logging

from arbitrary_style.errors import UserError
from arbitrary_style.image_io import list_images, load_image

DEFAULT_SHUFFLE_BUFFER = 512

# NAME[/CONFIG][:VERSION][@SPLIT]; tfds builder names are snake_case.
_TFDS_SOURCE = re.compile(r"(?P<name>[a-z0-9_]+)(?P<config>/[\w.-]+)?(?P<version>:[\w.*]+)?"
                          r"(@(?P<split>.+))?")


class SkipCounter:
    """A thread-safe record of the unreadable files that a pipeline skipped (each counted once)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._paths = set()

    @property
    def count(self) -> int:
        """How many distinct files have been skipped so far."""
        with self._lock:
            return len(self._paths)

    @property
    def paths(self) -> list[str]:
        """The skipped files, sorted."""
        with self._lock:
            return sorted(self._paths)

    def __contains__(self, path) -> bool:
        with self._lock:
            return path in self._paths

    def add(self, path) -> bool:
        """Record `path`; return True if it was not recorded before."""
        with self._lock:
            is_new = path not in self._paths
            self._paths.add(path)
            return is_new


@dataclasses.dataclass(frozen=True)
class StyleAugmentation:
    """Random changes to style images, after Magenta's `arbitrary_style_image_inputs`.

    Each image is resized so that its shorter side is `image_size` (or, with `random_size`,
    a random length in [min_side, max_side]), a square of min(that length, image_size) is
    cropped (at random with `random_crop`, else centrally) and resized to image_size, then
    it is flipped and colour-jittered. A size below image_size therefore shows the whole
    image at a lower resolution, a size above it a zoomed-in part. Every option can be
    switched off (False or a 0 delta); the defaults are Magenta's. The jitter deltas are on
    the [0, 1] scale: brightness adds a value in [-d, d], contrast and saturation multiply by
    a factor in [1 - d, 1 + d], hue shifts by up to d turns; the result is clipped to [0, 1].
    """

    random_size: bool = True
    min_side: int = 128
    max_side: int = 300
    random_crop: bool = True
    flip_left_right: bool = True
    flip_up_down: bool = True
    brightness_delta: float = 0.8
    contrast_delta: float = 0.0
    saturation_delta: float = 0.5
    hue_delta: float = 0.2

    def __post_init__(self):
        if not 1 <= self.min_side <= self.max_side:
            raise UserError(f"style augmentation needs 1 <= min_side <= max_side, got "
                            f"{self.min_side} and {self.max_side}")
        limits = {"brightness_delta": None, "contrast_delta": 1.0, "saturation_delta": 1.0,
                  "hue_delta": 0.5}
        for field, upper in limits.items():
            value = getattr(self, field)
            if value < 0 or (upper is not None and value > upper):
                bound = f"in [0, {upper}]" if upper is not None else ">= 0"
                raise UserError(f"style augmentation {field} must be {bound}, got {value}")


NO_AUGMENTATION = StyleAugmentation(
    random_size=False, random_crop=False, flip_left_right=False, flip_up_down=False,
    brightness_delta=0.0, contrast_delta=0.0, saturation_delta=0.0, hue_delta=0.0)


def content_dataset(source, *, image_size=256, batch_size=8,
                    shuffle_buffer=DEFAULT_SHUFFLE_BUFFER, seed=None, data_dir=None,
                    repeat=True, random_crop=True):
    """Content images: shorter side resized to image_size, then a square crop of image_size.

    Args:
        source: a directory, image file, glob pattern or tfds name (see the module docstring).
        image_size: side of the square output images.
        batch_size: images per batch; the last partial batch is dropped.
        shuffle_buffer: 0 turns shuffling off (sorted files or stored tfds order, for
            evaluation). Otherwise file sources are shuffled as a whole list of paths every
            epoch, and tfds sources shuffle their shards and then this many decoded images.
        seed: integer seed for shuffling and cropping, or None for a fresh random one.
        data_dir: tensorflow-datasets data directory (tfds sources only).
        repeat: repeat the source forever (training) or read it once (evaluation).
        random_crop: crop at a random position (training) or in the centre (evaluation).

    Returns:
        (dataset, skipped): the tf.data.Dataset and the `SkipCounter` of unreadable files.

    Raises:
        UserError: the source does not exist, holds no image files, none of them is
            readable, or tensorflow-datasets cannot load it.
    """

    def preprocess(image, element_seed):
        return _square_crop(image, image_size, image_size, random_crop, element_seed)

    return _build(source, preprocess, image_size, batch_size, shuffle_buffer, seed,
                  data_dir, repeat)


def style_dataset(source, *, image_size=256, batch_size=8, augment=StyleAugmentation(),
                  shuffle_buffer=DEFAULT_SHUFFLE_BUFFER, seed=None, data_dir=None,
                  repeat=True):
    """Style images, randomly changed by `augment` (a `StyleAugmentation`).

    `augment=None` (or `NO_AUGMENTATION`) gives plain images: shorter side resized to
    image_size and a central square crop, as `content_dataset(..., random_crop=False)`.
    The other arguments, the return value and the errors are those of `content_dataset`.
    """
    augment = NO_AUGMENTATION if augment is None else augment

    def preprocess(image, element_seed):
        return _augment_style(image, image_size, augment, element_seed)

    return _build(source, preprocess, image_size, batch_size, shuffle_buffer, seed,
                  data_dir, repeat)


def _build(source, preprocess, image_size, batch_size, shuffle_buffer, seed, data_dir, repeat):
    """Source images -> per-image `preprocess(image, seed)` -> batches, prefetched."""
    source = os.fspath(source)
    if batch_size < 1 or image_size < 1:
        raise UserError(f"batch_size and image_size must be positive, got {batch_size} "
                        f"and {image_size}")
    tfds_match = _tfds_source(source)
    if tfds_match:
        images, skipped = _tfds_images(source, tfds_match, data_dir, shuffle_buffer, seed,
                                       repeat)
    else:
        images, skipped = _file_images(source, shuffle_buffer > 0, seed, repeat)
    # One seed pair per image, drawn from a seeded stream, for the stateless image ops.
    element_seeds = tf.data.Dataset.random(seed=seed).batch(2)

    def checked(image, element_seed):
        image = tf.clip_by_value(preprocess(image, element_seed), 0.0, 1.0)
        return tf.ensure_shape(image, [image_size, image_size, 3])

    dataset = tf.data.Dataset.zip(images, element_seeds)
    dataset = dataset.map(checked, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.batch(batch_size, drop_remainder=True)
    return dataset.prefetch(tf.data.AUTOTUNE), skipped


def _tfds_source(source):
    """The `_TFDS_SOURCE` match if `source` names a registered tfds builder, else None.

    Raises UserError if the source is neither an existing path, a registered builder nor a
    glob pattern.
    """
    if os.path.exists(os.path.expanduser(source)):
        return None
    match = _TFDS_SOURCE.fullmatch(source)
    if match:
        try:
            tfds.builder_cls(match["name"])  # Looks in the local registry only.
            return match
        except tfds.core.registered.DatasetNotFoundError:
            pass
    if glob.has_magic(source):
        return None
    raise UserError(f"{source!r} is neither an existing directory/file pattern nor a "
                    "tensorflow-datasets builder")


def _tfds_images(source, match, data_dir, shuffle_buffer, seed, repeat):
    """The `image` feature of a tfds split as float32 RGB in [0, 1]."""
    name = source.split("@", 1)[0]
    split = match["split"] or "train"
    try:
        dataset, info = tfds.load(
            name, split=split, data_dir=data_dir, with_info=True,
            shuffle_files=shuffle_buffer > 0, read_config=tfds.ReadConfig(shuffle_seed=seed))
    except (ValueError, AssertionError, OSError, tf.errors.OpError) as error:
        reason = next((line for line in str(error).splitlines() if line.strip()),
                      type(error).__name__)
        raise UserError(f"tensorflow-datasets cannot load {source!r} "
                        f"(split {split!r}): {reason.strip()}") from error
    if "image" not in info.features:
        raise UserError(f"tensorflow-datasets source {source!r} has no 'image' feature "
                        f"(it has: {', '.join(info.features)})")
    dataset = dataset.map(lambda example: example["image"],
                          num_parallel_calls=tf.data.AUTOTUNE)
    if shuffle_buffer > 0:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed)  # uint8: 4x less memory.
    if repeat:
        dataset = dataset.repeat()
    return dataset.map(_to_rgb_float, num_parallel_calls=tf.data.AUTOTUNE), SkipCounter()


def _to_rgb_float(image):
    """Any tfds image (1-4 channels, uint8/uint16) -> float32 RGB, alpha composited on white."""
    image = tf.image.convert_image_dtype(image, tf.float32)
    channels = tf.shape(image)[-1]
    rgb = tf.cond(channels < 3, lambda: tf.repeat(image[..., :1], 3, axis=-1),
                  lambda: image[..., :3])
    alpha = tf.cond(tf.equal(channels % 2, 0), lambda: image[..., -1:],
                    lambda: tf.ones_like(image[..., :1]))
    return rgb * alpha + (1.0 - alpha)


def _file_images(source, shuffle, seed, repeat):
    """Image files decoded by `load_image`, unreadable ones skipped and counted."""
    paths = _list_image_files(source)
    skipped = SkipCounter()
    if not any(_load_or_skip(path, skipped) is not None for path in paths):
        raise UserError(_all_unreadable(source, paths))

    def decode(path):  # An empty image stands for a skipped file.
        image = _load_or_skip(os.fsdecode(path.numpy()), skipped)
        if image is not None:
            return image
        if skipped.count >= len(paths):  # The readable files vanished: stop, don't spin.
            raise UserError(_all_unreadable(source, paths))
        return np.zeros((0, 0, 3), np.float32)

    def decode_op(path):
        image = tf.py_function(decode, [path], tf.float32)
        return tf.ensure_shape(image, [None, None, 3])

    dataset = tf.data.Dataset.from_tensor_slices([os.fsencode(path) for path in paths])
    if shuffle:
        dataset = dataset.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.map(decode_op, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.filter(lambda image: tf.size(image) > 0), skipped


def _list_image_files(source):
    """Sorted image files of a directory (recursive), a file or a glob pattern."""
    paths = [str(path) for path in list_images(source, recursive=True)]
    if not paths:
        raise UserError(f"{source!r}: no image files found")
    return paths


def _load_or_skip(path, skipped):
    """The image at `path`, or None (warning once) if it is unreadable or known to be."""
    if path in skipped:
        return None
    try:
        return load_image(path)
    except UserError as error:
        if skipped.add(path):
            logging.warning("skipping unreadable image: %s", error)
        return None


def _all_unreadable(source, paths):
    return f"{source!r}: none of its {len(paths)} image files can be read"


def _resize_short_side(image, side):
    """Resize (antialiased bilinear) so that the shorter side is `side`, keeping the aspect."""
    height_width = tf.cast(tf.shape(image)[:2], tf.float32)
    side = tf.cast(side, tf.float32)
    new_size = tf.math.round(height_width * side / tf.reduce_min(height_width))
    new_size = tf.cast(tf.maximum(new_size, side), tf.int32)
    return tf.image.resize(image, new_size, antialias=True)


def _square_crop(image, side, crop, random_crop, seed):
    """Resize the shorter side to `side` and cut a `crop` x `crop` square (random or central)."""
    image = _resize_short_side(image, side)
    if random_crop:
        return tf.image.stateless_random_crop(image, [crop, crop, 3], seed)
    top_left = (tf.shape(image)[:2] - crop) // 2
    return image[top_left[0]:top_left[0] + crop, top_left[1]:top_left[1] + crop]


def _augment_style(image, image_size, augment, seed):
    """Apply a `StyleAugmentation`, each random op with its own seed split from `seed`."""
    seeds = iter(tf.unstack(tf.random.experimental.stateless_split(seed, num=8)))
    if augment.random_size:
        side = tf.random.stateless_uniform([], next(seeds), augment.min_side,
                                           augment.max_side + 1, dtype=tf.int32)
        image = _square_crop(image, side, tf.minimum(side, image_size), augment.random_crop,
                             next(seeds))
        image = tf.image.resize(image, [image_size, image_size], antialias=True)
    else:
        image = _square_crop(image, image_size, image_size, augment.random_crop, next(seeds))
    if augment.flip_left_right:
        image = tf.image.stateless_random_flip_left_right(image, next(seeds))
    if augment.flip_up_down:
        image = tf.image.stateless_random_flip_up_down(image, next(seeds))
    if augment.brightness_delta:
        image = tf.image.stateless_random_brightness(
            image, augment.brightness_delta, next(seeds))
        image = tf.clip_by_value(image, 0.0, 1.0)
    if augment.contrast_delta:
        image = tf.image.stateless_random_contrast(
            image, 1.0 - augment.contrast_delta, 1.0 + augment.contrast_delta, next(seeds))
        image = tf.clip_by_value(image, 0.0, 1.0)
    if augment.saturation_delta:
        image = tf.image.stateless_random_saturation(
            image, 1.0 - augment.saturation_delta, 1.0 + augment.saturation_delta, next(seeds))
        image = tf.clip_by_value(image, 0.0, 1.0)
    if augment.hue_delta:
        image = tf.image.stateless_random_hue(image, augment.hue_delta, next(seeds))
    return image
