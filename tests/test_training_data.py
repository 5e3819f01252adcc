"""Tests for training.data (offline: images and a tfds dataset are generated in tmp dirs)."""

import dataclasses
import logging
import threading
import uuid

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from arbitrary_style.errors import UserError
from arbitrary_style.image_io import load_image
from training.data import (
    NO_AUGMENTATION,
    SkipCounter,
    StyleAugmentation,
    content_dataset,
    style_dataset,
)

SIZE = 16

# name -> (width, height, Pillow mode); sizes on both sides of SIZE, one nested file.
IMAGES = {
    "wide.jpg": (40, 24, "RGB"),
    "tall.png": (20, 44, "RGB"),
    "gray.png": (30, 30, "L"),
    "alpha.png": (36, 22, "RGBA"),
    "tiny.jpg": (9, 12, "RGB"),
    "big.jpeg": (64, 48, "RGB"),
    "sub/nested.jpg": (26, 34, "RGB"),
    "sub/deeper/palette.gif": (28, 20, "P"),
}


def _picture(width, height, mode, rng):
    pixels = rng.integers(0, 256, size=(height, width, 4), dtype=np.uint8)
    return Image.fromarray(pixels, "RGBA").convert(mode)


def _write_images(directory, names=IMAGES):
    rng = np.random.default_rng(0)
    for name in names:
        width, height, mode = IMAGES[name]
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        _picture(width, height, mode, rng).save(path)
    return directory


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    return _write_images(tmp_path_factory.mktemp("images"))


def _add_unreadable(directory):
    good = (directory / "wide.jpg").read_bytes()
    (directory / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (directory / "notes.jpg").write_text("not an image\n")


def _batches(dataset, count):
    return [batch.numpy() for batch in dataset.take(count)]


def _all_images(dataset):
    return np.concatenate([batch.numpy() for batch in dataset])


def _assert_batch(batch, batch_size):
    assert batch.shape == (batch_size, SIZE, SIZE, 3)
    assert batch.dtype == np.float32
    assert batch.min() >= 0.0 and batch.max() <= 1.0


def _plain(path):
    """Shorter side resized to SIZE (antialiased bilinear), then the central square."""
    image = load_image(path)
    height, width = image.shape[:2]
    short = min(height, width)
    new_size = [max(SIZE, round(height * SIZE / short)), max(SIZE, round(width * SIZE / short))]
    image = tf.image.resize(image, new_size, antialias=True).numpy()
    top, left = (new_size[0] - SIZE) // 2, (new_size[1] - SIZE) // 2
    return np.clip(image[top:top + SIZE, left:left + SIZE], 0.0, 1.0)


# --- file sources ------------------------------------------------------------------------

def test_folder_source_gives_batches(image_dir):
    dataset, skipped = content_dataset(image_dir, image_size=SIZE, batch_size=3, seed=1)
    assert isinstance(skipped, SkipCounter)
    assert dataset.element_spec.shape == (3, SIZE, SIZE, 3)
    for batch in _batches(dataset, 4):  # 12 images from 8 files: the source repeats.
        _assert_batch(batch, 3)
    assert skipped.count == 0


def test_folder_source_is_recursive_and_read_once_without_repeat(image_dir):
    dataset, _ = content_dataset(image_dir, image_size=SIZE, batch_size=1, repeat=False)
    assert len(_all_images(dataset)) == len(IMAGES)


@pytest.mark.parametrize("pattern, expected", [
    ("*.png", 3), ("**/*.jpg", 3), ("sub/**/*.gif", 1), ("big.jpeg", 1),
])
def test_glob_and_file_sources(image_dir, pattern, expected):
    dataset, _ = content_dataset(str(image_dir / pattern), image_size=SIZE, batch_size=1,
                                 repeat=False)
    images = _all_images(dataset)
    assert len(images) == expected
    _assert_batch(images, expected)
    repeated, _ = style_dataset(str(image_dir / pattern), image_size=SIZE, batch_size=4)
    _assert_batch(_batches(repeated, 1)[0], 4)


def test_unreadable_files_are_skipped_counted_and_warned(tmp_path, caplog):
    _write_images(tmp_path, ["wide.jpg", "tall.png", "gray.png", "alpha.png"])
    _add_unreadable(tmp_path)
    with caplog.at_level(logging.WARNING):
        dataset, skipped = content_dataset(tmp_path, image_size=SIZE, batch_size=1,
                                           shuffle_buffer=0, repeat=False)
        images = _all_images(dataset)
    assert len(images) == 4
    _assert_batch(images, 4)
    assert skipped.count == 2
    assert [path.rsplit("/", 1)[-1] for path in skipped.paths] == ["notes.jpg", "truncated.jpg"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    for name in ("notes.jpg", "truncated.jpg"):
        assert sum(name in message for message in warnings) == 1  # Warned once per file.

    # Repeating: the known-bad files are skipped again, still counted once.
    repeated, skipped = style_dataset(tmp_path, image_size=SIZE, batch_size=3, seed=0)
    for batch in _batches(repeated, 4):
        _assert_batch(batch, 3)
    assert skipped.count == 2


def test_all_unreadable_folder_is_a_user_error(tmp_path):
    _write_images(tmp_path, ["wide.jpg"])
    _add_unreadable(tmp_path)
    (tmp_path / "wide.jpg").unlink()
    with pytest.raises(UserError, match="none of its 2 image files can be read") as excinfo:
        content_dataset(tmp_path)
    assert "\n" not in str(excinfo.value) and str(tmp_path) in str(excinfo.value)


def test_files_vanishing_after_build_raise_instead_of_hanging(tmp_path):
    _write_images(tmp_path, ["wide.jpg", "tall.png"])
    _add_unreadable(tmp_path)
    dataset, skipped = content_dataset(tmp_path, image_size=SIZE, batch_size=2, seed=0)
    for name in ("wide.jpg", "tall.png"):
        (tmp_path / name).unlink()
    outcome = []

    def first_batch():
        try:
            next(iter(dataset))
        except tf.errors.OpError as error:
            outcome.append(error)

    thread = threading.Thread(target=first_batch, daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "the pipeline loops forever on unreadable files"
    assert outcome and "none of its 4 image files can be read" in outcome[0].message
    assert skipped.count == 4


@pytest.mark.parametrize("make_source", [
    lambda tmp: str(tmp / "empty"),
    lambda tmp: str(tmp / "empty" / "*.jpg"),
    lambda tmp: str(tmp / "missing_dir"),
    lambda tmp: "not_a_registered_tfds_builder_xyz",
    lambda tmp: "Not a source at all!",
])
def test_bad_sources_are_one_line_user_errors(tmp_path, make_source):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    source = make_source(tmp_path)
    with pytest.raises(UserError) as excinfo:
        content_dataset(source)
    message = str(excinfo.value)
    assert "\n" not in message and source in message


def test_missing_source_message(tmp_path):
    with pytest.raises(UserError, match="neither an existing directory/file pattern nor a "
                                        "tensorflow-datasets builder"):
        style_dataset(str(tmp_path / "nowhere"))


# --- determinism and augmentation --------------------------------------------------------

@pytest.mark.parametrize("build", [content_dataset, style_dataset])
def test_same_seed_same_batches(image_dir, build):
    first = _batches(build(image_dir, image_size=SIZE, batch_size=4, seed=3)[0], 3)
    second = _batches(build(image_dir, image_size=SIZE, batch_size=4, seed=3)[0], 3)
    other = _batches(build(image_dir, image_size=SIZE, batch_size=4, seed=4)[0], 3)
    np.testing.assert_array_equal(np.stack(first), np.stack(second))
    assert not np.array_equal(np.stack(first), np.stack(other))


def test_augmentation_off_is_a_plain_resize_and_central_crop(image_dir):
    files = sorted(path for path in image_dir.rglob("*") if path.is_file())
    expected = np.stack([_plain(path) for path in files])
    for build, options in [(style_dataset, {"augment": None}),
                           (style_dataset, {"augment": NO_AUGMENTATION}),
                           (content_dataset, {"random_crop": False})]:
        dataset, _ = build(image_dir, image_size=SIZE, batch_size=1, shuffle_buffer=0,
                           repeat=False, **options)
        np.testing.assert_allclose(_all_images(dataset), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("changes", [
    {},  # Magenta's defaults: everything on.
    {"random_size": True, "min_side": 8, "max_side": 40},
    {"random_crop": True},
    {"flip_left_right": True},
    {"flip_up_down": True},
    {"brightness_delta": 0.3},
    {"contrast_delta": 0.5},
    {"saturation_delta": 0.5},
    {"hue_delta": 0.2},
], ids=lambda changes: ",".join(changes) or "defaults")
def test_each_augmentation_changes_images_and_stays_in_range(image_dir, changes):
    augment = StyleAugmentation() if not changes else dataclasses.replace(NO_AUGMENTATION,
                                                                          **changes)

    def images(augmentation):
        dataset, _ = style_dataset(image_dir, image_size=SIZE, batch_size=1, augment=augmentation,
                                   shuffle_buffer=0, seed=5, repeat=False)
        return _all_images(dataset)

    plain, augmented = images(NO_AUGMENTATION), images(augment)
    _assert_batch(augmented, len(IMAGES))
    assert not np.array_equal(plain, augmented)


@pytest.mark.parametrize("options", [
    {"min_side": 300, "max_side": 128}, {"min_side": 0}, {"hue_delta": 0.6},
    {"saturation_delta": 1.5}, {"brightness_delta": -0.1},
])
def test_invalid_augmentation_is_a_user_error(options):
    with pytest.raises(UserError):
        StyleAugmentation(**options)


def test_augmentation_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        StyleAugmentation().hue_delta = 0.0


# --- tensorflow-datasets sources ---------------------------------------------------------

@pytest.fixture(scope="module")
def tfds_source(tmp_path_factory):
    """(builder name, data_dir) of a real tfds dataset of 6 images, prepared offline."""
    # A fresh name each time: registering a builder name twice is an error in tfds.
    builder_name = f"arbitrary_style_test_images_{uuid.uuid4().hex[:8]}"

    class TinyImages(tfds.core.GeneratorBasedBuilder):
        name = builder_name
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(
                {"image": tfds.features.Image(shape=(None, None, 3))}))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(6), "test": self._generate_examples(2)}

        def _generate_examples(self, count):
            rng = np.random.default_rng(count)
            for index in range(count):
                shape = (20 + 3 * index, 30 - 2 * index, 3)
                yield index, {"image": rng.integers(0, 256, size=shape, dtype=np.uint8)}

    data_dir = tmp_path_factory.mktemp("tfds")
    TinyImages(data_dir=str(data_dir)).download_and_prepare()
    return builder_name, str(data_dir)


def test_tfds_source_gives_batches(tfds_source):
    name, data_dir = tfds_source
    dataset, skipped = content_dataset(name, image_size=SIZE, batch_size=4, seed=0,
                                       data_dir=data_dir)
    for batch in _batches(dataset, 3):
        _assert_batch(batch, 4)
    assert skipped.count == 0
    once, _ = style_dataset(f"{name}:1.0.0@test", image_size=SIZE, batch_size=1,
                            data_dir=data_dir, repeat=False)
    assert len(_all_images(once)) == 2
    sliced, _ = content_dataset(f"{name}@train[:50%]", image_size=SIZE, batch_size=1,
                                data_dir=data_dir, repeat=False)
    assert len(_all_images(sliced)) == 3


def test_tfds_same_seed_same_batches(tfds_source):
    name, data_dir = tfds_source

    def first_batches():
        return np.stack(_batches(style_dataset(name, image_size=SIZE, batch_size=3, seed=9,
                                               data_dir=data_dir)[0], 3))

    np.testing.assert_array_equal(first_batches(), first_batches())


def test_tfds_unknown_split_is_a_user_error(tfds_source):
    name, data_dir = tfds_source
    with pytest.raises(UserError, match="nosuchsplit") as excinfo:
        content_dataset(f"{name}@nosuchsplit", data_dir=data_dir)
    assert "\n" not in str(excinfo.value)
