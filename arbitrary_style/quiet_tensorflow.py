"""TensorFlow without its C++ start-up lines on stderr, unless asked for (`--verbose` or
ARBITRARY_STYLE_VERBOSE=1).

`import tensorflow` prints lines that no log level silences ("All log messages before
absl::InitializeLog() ...", "Could not find cuda drivers ...", "failed call to cuInit"),
twice per process. `install()` (run by the package's `__init__`) wraps the first import of
tensorflow, and the device set-up that prints the rest, with stderr pointed at /dev/null,
and sets TF_CPP_MIN_LOG_LEVEL=3 for what comes later; TensorFlow's Python logger then shows
warnings and errors only. Python exceptions still propagate.
"""

import contextlib
import importlib.abc
import importlib.util
import logging
import os
import pathlib
import sys
import tempfile

VERBOSE_VARIABLE = "ARBITRARY_STYLE_VERBOSE"
VERBOSE_FLAG = "--verbose"  # Defined by `arbitrary_style.cli`; read here before flags parse.
_ROOT = pathlib.Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = tuple(str(_ROOT / name) + os.sep for name in
                         ("arbitrary_style", "training", "export"))


@contextlib.contextmanager
def _stderr_to(fd):
    """Points file descriptor 2 (so C++ code's writes and child processes' too) at `fd`."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(fd, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


@contextlib.contextmanager
def _stderr_to_devnull():
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        with _stderr_to(null):
            yield
    finally:
        os.close(null)


def quiet_stderr():
    """A context in which C++ code's direct stderr writes are dropped, unless verbose (e.g. the
    TFLite calibrator's "fully_quantize: 0, inference_type: 6, ..." lines)."""
    if os.environ.get(VERBOSE_VARIABLE):
        return contextlib.nullcontext()
    return _stderr_to_devnull()


@contextlib.contextmanager
def stderr_shown_on_failure():
    """A context whose stderr writes (child processes' included, e.g. Beam's worker
    processes logging their start-up) are held in a temporary file and written out only if
    it raises an Exception; shown as they come if verbose."""
    if os.environ.get(VERBOSE_VARIABLE):
        yield
        return
    with tempfile.TemporaryFile() as held:
        try:
            with _stderr_to(held.fileno()):
                yield
        except Exception:
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
            raise


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        with _stderr_to_devnull():
            self._loader.exec_module(module)
            # Device discovery prints the second batch; physical, not logical, devices leave
            # the eager context uninitialized (MultiWorkerMirroredStrategy must configure
            # collective ops before it starts).
            module.config.list_physical_devices()
        # TensorFlow's Python INFO lines (SavedModel saving: input names, assets, fingerprint).
        module.get_logger().setLevel("WARNING")


class _QuietFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


class ProjectInfoOnly(logging.Filter):
    """Passes warnings and errors, and INFO/DEBUG records only from the project's own code
    (absl's handler otherwise shows TensorFlow's INFO lines: SavedModel input renames of
    ~5,000 characters, sharding and fingerprint lines)."""

    def filter(self, record):
        return record.levelno >= logging.WARNING or record.pathname.startswith(PROJECT_PACKAGES)


def filter_absl_logs():
    """Filters absl's log handler with ProjectInfoOnly (the commands do, via `cli.run`; a
    program of the user's that imports the package keeps its own INFO lines); a no-op if
    verbose."""
    if os.environ.get(VERBOSE_VARIABLE):
        return
    from absl import logging as absl_logging

    handler = absl_logging.get_absl_handler()
    if not any(isinstance(f, ProjectInfoOnly) for f in handler.filters):
        handler.addFilter(ProjectInfoOnly())


def install():
    """Makes the first `import tensorflow` quiet (no-op if verbose or already imported)."""
    if VERBOSE_FLAG in sys.argv:
        os.environ[VERBOSE_VARIABLE] = "1"
    if os.environ.get(VERBOSE_VARIABLE) or "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if not any(isinstance(finder, _QuietFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())
