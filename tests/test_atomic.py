"""Atomic file and directory writes: crashes leave one complete copy and only prefixed temps."""

import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from arbitrary_style import atomic
from arbitrary_style.image_io import load_image, save_image

ATOMIC_PY = pathlib.Path(atomic.__file__)
# Loads atomic.py alone (the package imports TensorFlow), then runs the given code.
CHILD = f"""
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("atomic", {str(ATOMIC_PY)!r})
atomic = importlib.util.module_from_spec(spec); spec.loader.exec_module(atomic)
"""


def _write_tree(directory, text):
    (directory / "a.txt").write_text(text)
    (directory / "sub").mkdir()
    (directory / "sub" / "b.txt").write_text(text)


def _assert_tree(directory, text):
    assert (directory / "a.txt").read_text() == text
    assert (directory / "sub" / "b.txt").read_text() == text


def _temps(directory):
    return [p.name for p in directory.iterdir() if p.name.startswith(atomic.PREFIX)]


def test_atomic_file_replaces_and_cleans_up(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic.atomic_file(target) as temporary:
        assert temporary.name.startswith(atomic.PREFIX) and temporary.parent == tmp_path
        temporary.write_text("new")
    assert target.read_text() == "new" and not _temps(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        with atomic.atomic_file(target) as temporary:
            temporary.write_text("partial")
            raise KeyboardInterrupt
    assert target.read_text() == "new" and not _temps(tmp_path)


def test_atomic_file_cleans_stale_temps_unless_asked_not_to(tmp_path):
    """A dead writer's temp is removed by the next write, or kept with clean=False (for a
    writer that cleans the directory once itself)."""
    stale = tmp_path / f"{atomic.PREFIX}999999999-00-new-x.png"  # no such pid
    stale.write_text("partial")
    with atomic.atomic_file(tmp_path / "a.txt", clean=False) as temporary:
        temporary.write_text("a")
    assert stale.exists()
    with atomic.atomic_file(tmp_path / "b.txt") as temporary:
        temporary.write_text("b")
    assert not stale.exists() and (tmp_path / "a.txt").read_text() == "a"


def test_directory_replace_and_exception_keeps_old(tmp_path):
    target = tmp_path / "model"
    with atomic.atomic_directory(target) as staging:
        _write_tree(staging, "v1")
    assert target.stat().st_mode & 0o777 == 0o755
    with pytest.raises(RuntimeError):
        with atomic.atomic_directory(target) as staging:
            _write_tree(staging, "v2")
            raise RuntimeError("crash")
    _assert_tree(target, "v1")
    assert not _temps(tmp_path)
    with atomic.atomic_directory(target) as staging:
        _write_tree(staging, "v2")
    _assert_tree(target, "v2")
    assert not _temps(tmp_path)


def test_failure_between_renames_restores_old(tmp_path, monkeypatch):
    target = tmp_path / "model"
    with atomic.atomic_directory(target) as staging:
        _write_tree(staging, "v1")
    real_rename, calls = os.rename, []

    def rename(source, destination):
        calls.append(source)
        if len(calls) == 2:  # The old copy is aside; the new one is not in yet.
            raise OSError("injected")
        real_rename(source, destination)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(OSError, match="injected"):
        with atomic.atomic_directory(target) as staging:
            _write_tree(staging, "v2")
    _assert_tree(target, "v1")
    assert not _temps(tmp_path)


def test_crash_between_renames_is_restored_by_clean_stale(tmp_path):
    target = tmp_path / "model"
    with atomic.atomic_directory(target) as staging:
        _write_tree(staging, "v1")
    # A dead process moved the old copy aside and died before renaming the new one in.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    aside = tmp_path / f"{atomic.PREFIX}{pid}-abcd1234-old-model"
    target.rename(aside)
    (tmp_path / f"{atomic.PREFIX}{pid}-abcd1235-new-model").mkdir()
    atomic.clean_stale(tmp_path)
    _assert_tree(target, "v1")
    assert not _temps(tmp_path)


def test_sigkill_mid_write_leaves_only_temps_then_cleaned(tmp_path):
    code = CHILD + f"""
with atomic.atomic_file({str(tmp_path / "big.bin")!r}) as temporary:
    with open(temporary, "wb") as file:
        print("writing", flush=True)
        while True:
            file.write(b"x" * (1 << 20)); file.flush()
"""
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "writing\n"
    time.sleep(0.2)
    child.send_signal(signal.SIGKILL)
    child.wait()
    left = os.listdir(tmp_path)
    assert left and all(name.startswith(f"{atomic.PREFIX}{child.pid}-") for name in left)
    with atomic.atomic_file(tmp_path / "other.txt") as temporary:
        temporary.write_text("ok")
    assert os.listdir(tmp_path) == ["other.txt"]


def test_live_process_temp_is_kept(tmp_path):
    code = CHILD + f"""
with atomic.atomic_directory({str(tmp_path / "model")!r}) as staging:
    print("staged", flush=True)
    sys.stdin.readline()
"""
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "staged\n"
        atomic.clean_stale(tmp_path)
        assert len(_temps(tmp_path)) == 1
    finally:
        child.communicate("\n")
    assert child.returncode == 0 and os.listdir(tmp_path) == ["model"]


def test_temp_from_reused_pid_is_removed(tmp_path):
    # Our own pid, but written before this process started: a previous owner of the pid.
    stale = tmp_path / f"{atomic.PREFIX}{os.getpid()}-abcd1234-new-x.txt"
    stale.write_text("stale")
    os.utime(stale, (time.time() - 10 ** 7,) * 2)
    atomic.clean_stale(tmp_path)
    assert not stale.exists()


def test_save_image_and_save_model_leave_no_temps(tmp_path):
    from arbitrary_style.model import ModelConfig, StyleModel
    from arbitrary_style.weights import store

    image = np.random.default_rng(0).random((8, 8, 3), dtype=np.float32)
    save_image(image, tmp_path / "a.png")
    save_image(image, tmp_path / "a.png")
    assert np.abs(load_image(tmp_path / "a.png") - image).max() <= 1 / 255
    model = StyleModel(ModelConfig("mobilenet_v2", 0.25))
    store.save_model(model, tmp_path / "weights")
    store.save_model(model, tmp_path / "weights")
    assert store.load_model(tmp_path / "weights") is not None
    assert sorted(os.listdir(tmp_path)) == ["a.png", "weights"]
