"""What every command shares (`arbitrary_style.cli`): dashed flag names, quiet TensorFlow."""

import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest

from arbitrary_style import __version__
from arbitrary_style.cli import undash_flag_names
from arbitrary_style.console import COMMANDS

from conftest import CONTENT_DIR, STYLE_DIR


@pytest.mark.parametrize("argv, expected", [
    (["p", "--content-size=3", "--max_pixels", "9"], ["p", "--content_size=3", "--max_pixels", "9"]),
    (["p", "--preserve-colors", "--styles", "a-b.jpg:0.5"],
     ["p", "--preserve_colors", "--styles", "a-b.jpg:0.5"]),
    (["p", "--output=my-dir/x-y.png"], ["p", "--output=my-dir/x-y.png"]),
    (["p", "--", "--not-a-flag"], ["p", "--", "--not-a-flag"]),
    (["p", "-v", "1", "--"], ["p", "-v", "1", "--"]),
])
def test_dashed_flag_names(argv, expected):
    assert undash_flag_names(argv) == expected


def stylize(*args, home):
    return subprocess.run([sys.executable, "-m", "arbitrary_style.stylize", *args],
                          env={**os.environ, "ARBITRARY_STYLE_HOME": str(home)},
                          capture_output=True, text=True, timeout=300)


def test_only_the_projects_own_lines_unless_verbose(tmp_path, weights_home):
    content = str(CONTENT_DIR / "golden_gate_sq.jpg")
    args = ("--content", content, "--styles", str(STYLE_DIR / "La_forma.jpg"),
            "--max-pixels", "10", "--output", str(tmp_path / "out.png"))
    quiet = stylize(*args, home=weights_home)
    assert quiet.returncode == 1
    # The dashed --max-pixels took effect, and TensorFlow printed nothing.
    assert quiet.stderr.splitlines() == [line for line in quiet.stderr.splitlines()
                                         if line.startswith("error:")]
    assert len(quiet.stderr.splitlines()) == 1 and "pixel" in quiet.stderr
    verbose = stylize(*args, "--verbose", home=weights_home)
    assert verbose.returncode == 1 and "absl::InitializeLog" in verbose.stderr


def console(*args):
    script = pathlib.Path(sys.executable).parent / "arbitrary-style"
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=300)


def test_console_script_runs_the_commands():
    listing = console("--help")
    assert listing.returncode == 0
    for name, module in COMMANDS.items():
        assert f"{name}" in listing.stdout and importlib.util.find_spec(module) is not None
    version = console("weights", "--version")
    assert version.returncode == 0 and version.stdout.strip() == f"arbitrary_style {__version__}"
    help_text = console("stylize", "--help")
    assert help_text.returncode == 0 and "--content_size" in help_text.stdout
    unknown = console("stylise")
    assert unknown.returncode == 2 and unknown.stderr.startswith("error: unknown command")


def test_help_does_not_import_tensorflow():
    code = ("import sys, runpy; sys.argv = ['stylize', '--help']\n"
            "try:\n    runpy.run_module('arbitrary_style.stylize', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "print('tensorflow' in sys.modules, file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert "--styles" in result.stdout and result.stderr.strip() == "False"
