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
    style = str(STYLE_DIR / "Camille_Mauclair.jpg")
    refused = stylize("--content", content, "--styles", style, "--max-pixels", "10",
                      "--output", str(tmp_path / "refused.png"), home=weights_home)
    # The dashed --max-pixels took effect: one error line.
    assert refused.returncode == 1 and len(refused.stderr.splitlines()) == 1
    assert refused.stderr.startswith("error:") and "pixel" in refused.stderr
    args = ("--content", content, "--styles", style, "--content-size", "32",
            "--backend", "tensorflow")
    quiet = stylize(*args, "--output", str(tmp_path / "quiet.png"), home=weights_home)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr  # TensorFlow ran, silently.
    verbose = stylize(*args, "--output", str(tmp_path / "verbose.png"), "--verbose",
                      home=weights_home)
    assert verbose.returncode == 0 and "absl::InitializeLog" in verbose.stderr


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
