"""What every command-line tool shares: absl flags, one-line errors, help that exits 0."""

import math
import pathlib
import sys

from absl import app, flags

from arbitrary_style import extras, quiet_tensorflow
from arbitrary_style.errors import UserError
from arbitrary_style.version import __version__

# Command -> the module `python -m` runs for it.
COMMANDS = {
    "stylize": "arbitrary_style.stylize",
    "batch": "arbitrary_style.batch",
    "optimize": "arbitrary_style.optimize",
    "weights": "arbitrary_style.weights",
    "styles": "arbitrary_style.styles",
    "backends": "arbitrary_style.backends",
    "train": "training.train",
    "distill": "training.distill",
    "evaluate": "training.evaluate",
    "export-saved-model": "export.saved_model",
    "export-hub": "export.hub",
    "export-tflite": "export.tflite",
    "export-tfjs": "export.tfjs",
    "serve-demo": "export.web",
}


PROGRAM = "arbitrary-style"


def command_of(module):
    """The command that runs `module` (e.g. "arbitrary_style.stylize" -> "stylize"), or None."""
    return next((name for name, each in COMMANDS.items() if each == module), None)


FLAGS = flags.FLAGS
flags.DEFINE_bool("version", False, "Print the arbitrary_style version and exit.")
flags.DEFINE_bool("verbose", False, "Also show TensorFlow's own log lines (hidden by default; "
                  "ARBITRARY_STYLE_VERBOSE=1 does the same).")


def undash_flag_names(argv):
    """`--content-size=3` -> `--content_size=3`: dashed flag names as well as absl's.

    Only names of options before a bare `--` change; values are left as they are.
    """
    result = list(argv[:1])
    for index, arg in enumerate(argv[1:], start=1):
        if arg == "--":
            return result + list(argv[index:])
        if arg.startswith("--") and len(arg) > 2:
            name, equals, value = arg[2:].partition("=")
            arg = "--" + name.replace("-", "_") + equals + value
        result.append(arg)
    return result


def version_line():
    """What `--version` prints."""
    return f"arbitrary_style {__version__}"


def non_finite_float_flag():
    """The first float flag set to NaN or +-inf, as "--name value", or None.

    absl's float flags parse "nan" and "inf", and NaN passes their bounds (every comparison
    with NaN is false), so every command's float flags are checked here, in one place.
    """
    for name in sorted(FLAGS):
        flag = FLAGS[name]
        if not isinstance(flag.parser, flags.FloatParser) or flag.name != name:
            continue
        values = flag.value if isinstance(flag.value, list) else [flag.value]
        for value in values:
            if value is not None and not math.isfinite(value):
                return f"--{name} {value}"
    return None


def _parse_flags(argv):
    try:
        remaining = flags.FLAGS(undash_flag_names(argv))
    except flags.Error as error:
        print(f"error: {error} (see --help)", file=sys.stderr)
        sys.exit(2)
    except SystemExit:  # Only the help flags (--help, --helpfull, ...) exit while parsing.
        sys.exit(0)
    non_finite = non_finite_float_flag()
    if non_finite:
        print(f"error: {non_finite}: must be a finite number (see --help)", file=sys.stderr)
        sys.exit(2)
    return remaining


def _list_shared_flags_in_help():
    """absl's --help shows only the main module's flags; add those our shared modules define
    (e.g. the loss flags of arbitrary_style/loss_flags.py, the data flags of
    training/common_flags.py)."""
    for module, module_flags in FLAGS.flags_by_module_dict().items():
        if module.startswith(("arbitrary_style.", "training.", "export.")):
            for flag in module_flags:
                FLAGS.register_key_flag_for_module(sys.argv[0], flag)


def program_name():
    """How the user ran this command, for --help and usage lines: `arbitrary-style stylize`
    or `python -m arbitrary_style.stylize` (absl shows sys.argv[0], the module's file path);
    None when it was run some other way (a script path)."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    if spec is None:
        return None
    module = spec.name.removesuffix(".__main__")
    launcher = pathlib.Path(sys.orig_argv[1]).name if len(sys.orig_argv) > 1 else ""
    command = command_of(module)
    if launcher == PROGRAM and command:
        return f"{PROGRAM} {command}"
    return f"python -m {module}"


def _show_program_name():
    """Lists the main module's flags under `program_name()` and makes it sys.argv[0]."""
    name = program_name()
    if name is None:
        return
    for flag in FLAGS.get_key_flags_for_module(sys.argv[0]):
        FLAGS.register_key_flag_for_module(name, flag)
    sys.argv[0] = name


def run(main, *, takes_arguments=False):
    """`absl.app.run(main)`; a UserError, a bad flag, a missing extra or Ctrl-C is one
    `error:` line, not a traceback.

    Positional arguments are refused unless the command `takes_arguments`.
    """
    _list_shared_flags_in_help()
    _show_program_name()
    quiet_tensorflow.filter_absl_logs()

    def guarded(argv):
        if FLAGS.version:
            print(version_line())
            return 0
        try:
            if len(argv) > 1 and not takes_arguments:
                raise UserError(f"unexpected arguments: {' '.join(argv[1:])}")
            return main(argv)
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        except ModuleNotFoundError as error:
            message = extras.missing_extra_message(error)
            if message is None:
                raise
            print(f"error: {message}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:  # Ctrl-C: outputs in progress were not written.
            print("error: interrupted", file=sys.stderr)
            return 130

    app.run(guarded, flags_parser=_parse_flags)

