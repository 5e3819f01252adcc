"""`arbitrary-style COMMAND [FLAGS]`: the console script that runs each `python -m` command.

    arbitrary-style stylize --content photo.jpg --styles a.jpg:0.7,b.jpg:0.3
    arbitrary-style weights list
"""

import runpy
import sys

from arbitrary_style.cli import COMMANDS, PROGRAM, version_line


def usage():
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  python -m {module}" for name, module in COMMANDS.items()]
    return (f"usage: {PROGRAM} COMMAND [FLAGS]   ({PROGRAM} COMMAND --help for its "
            "flags)\n\ncommands:\n" + "\n".join(lines))


def main(argv=None):
    """Runs `arbitrary-style COMMAND ...` as `python -m MODULE ...`; returns the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv:  # As argparse tools do: what to type, on stderr, and exit 2.
        print(usage(), file=sys.stderr)
        return 2
    if argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] == "--version":
        print(version_line())
        return 0
    if argv[0] not in COMMANDS:
        print(f"error: unknown command {argv[0]!r}; choose one of {', '.join(COMMANDS)}",
              file=sys.stderr)
        return 2
    from arbitrary_style import extras

    extras.install_hook()
    sys.argv = [f"{PROGRAM} {argv[0]}", *argv[1:]]
    runpy.run_module(COMMANDS[argv[0]], run_name="__main__", alter_sys=True)
    return 0
