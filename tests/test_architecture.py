"""The package's floors (README, Architecture), checked by import-linter's contracts in
pyproject.toml: no upward import and no import cycle, function-level imports included."""

import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def lint_imports(root):
    """`lint-imports` on the package under `root` with this project's contracts."""
    return subprocess.run(
        [str(pathlib.Path(sys.executable).parent / "lint-imports"), "--config",
         str(root / "pyproject.toml"), "--no-cache"],
        cwd=root, capture_output=True, text=True, timeout=300,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})


def test_the_package_keeps_its_floors():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "2 kept, 0 broken" in result.stdout


@pytest.mark.parametrize("module, line, broken", [
    # a function-level import of a higher floor: the ground floor reaching the pipeline
    ("image_io.py", "\n\ndef _upward():\n    from arbitrary_style import pipeline\n",
     "arbitrary_style.image_io is not allowed to import arbitrary_style.pipeline"),
    # a cycle inside one floor's package
    ("weights/variables.py", "\n\ndef _cycle():\n    from arbitrary_style.weights import store\n",
     "no cycles inside a package"),
    # a module on no floor
    ("stray.py", "", "arbitrary_style.stray"),
])
def test_the_contracts_catch_what_they_guard_against(tmp_path, module, line, broken):
    """A copy of the package with one bad import (or an unplaced module) breaks the build."""
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "arbitrary_style", copy / "arbitrary_style",
                    ignore=shutil.ignore_patterns("__pycache__", "pretrained"))
    shutil.copy(ROOT / "pyproject.toml", copy)
    path = copy / "arbitrary_style" / module
    path.write_text((path.read_text() if path.exists() else "") + line)
    result = lint_imports(copy)
    assert result.returncode != 0
    assert broken in result.stdout, result.stdout[-3000:]
