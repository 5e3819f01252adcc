"""What every command shares (`arbitrary_style.cli`): dashed flag names, quiet TensorFlow."""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import pytest

from arbitrary_style import __version__, quiet_tensorflow
from arbitrary_style.cli import undash_flag_names
from arbitrary_style.cli import COMMANDS

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
    return subprocess.run([sys.executable, "-m", "arbitrary_style.stylize", *map(str, args)],
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


REPOSITORY = pathlib.Path(__file__).resolve().parents[1]


def console_script(tmp_path):
    """An `arbitrary-style` script as pip writes it, running this checkout's console."""
    script = tmp_path / "bin" / "arbitrary-style"
    script.parent.mkdir()
    script.write_text(f"#!{sys.executable}\nimport sys\nfrom arbitrary_style.console import "
                      "main\nsys.exit(main())\n")
    script.chmod(0o755)
    return script


def run_checkout(argv, **env):
    return subprocess.run(argv, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPOSITORY), **env})


def test_console_without_a_command_lists_them_and_exits_2(tmp_path):
    result = run_checkout([console_script(tmp_path)])
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("usage: arbitrary-style COMMAND")
    assert all(name in result.stderr for name in COMMANDS)


@pytest.mark.parametrize("launcher, header", [
    ("console", "arbitrary-style batch:"), ("module", "python -m arbitrary_style.batch:")])
def test_help_names_the_command_not_its_file(tmp_path, launcher, header):
    argv = ([console_script(tmp_path), "batch"] if launcher == "console"
            else [sys.executable, "-m", "arbitrary_style.batch"])
    result = run_checkout([*argv, "--help"])
    assert result.returncode == 0 and header in result.stdout.splitlines()
    assert str(REPOSITORY) not in result.stdout and "__main__.py" not in result.stdout


def test_stderr_shown_only_when_the_block_fails(capfd):
    """Child processes write to the held stderr too; it is shown only on an exception."""
    child = [sys.executable, "-c", "import sys; sys.stderr.write('child noise\\n')"]
    with quiet_tensorflow.stderr_shown_on_failure():
        subprocess.run(child, check=True)
    assert capfd.readouterr().err == ""
    with pytest.raises(RuntimeError), quiet_tensorflow.stderr_shown_on_failure():
        subprocess.run(child, check=True)
        raise RuntimeError("the job failed")
    assert capfd.readouterr().err == "child noise\n"


def test_a_light_run_prints_only_its_summary(tmp_path, weights_home):
    """Several contents (the progress bar's case) on a pipe: no bar, no library lines."""
    contents = [CONTENT_DIR / "golden_gate_sq.jpg", CONTENT_DIR / "statue_of_liberty_sq.jpg"]
    result = stylize("--content", *contents, "--styles", STYLE_DIR / "Camille_Mauclair.jpg",
                     "--content_size", "64", "--output", tmp_path / "out", "--json",
                     home=weights_home)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    summary = json.loads(result.stdout)
    assert summary["backend"] == "light" and len(summary["outputs"]) == 2


def test_nothing_is_written_into_home(tmp_path):
    """Runs on both backends (Keras, then onnxruntime) leave HOME empty: Keras's
    keras.json goes to the cache, onnxruntime's telemetry files are not made."""
    home, cache = tmp_path / "home", tmp_path / "cache"
    home.mkdir()
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("XDG_CACHE_HOME", "KERAS_HOME", "ORT_DISABLE_TELEMETRY")}
    for backend in ("tensorflow", "light"):
        result = subprocess.run(
            [sys.executable, "-m", "arbitrary_style.stylize", "--content",
             CONTENT_DIR / "golden_gate_sq.jpg", "--styles", STYLE_DIR / "Camille_Mauclair.jpg",
             "--content_size", "64", "--output", tmp_path / f"{backend}.png", "--json",
             "--backend", backend],
            env={**environment, "HOME": str(home), "ARBITRARY_STYLE_HOME": str(cache)},
            capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["backend"] == backend
        assert sorted(p.relative_to(home) for p in home.rglob("*")) == [], backend
    assert (cache / "keras" / "keras.json").is_file()  # Keras did run, with its home here.
