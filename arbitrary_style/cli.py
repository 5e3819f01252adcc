"""What every command-line tool shares: absl flags, one-line errors, help that exits 0."""

import sys

from absl import app, flags

from arbitrary_style.errors import UserError


def _parse_flags(argv):
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        print(f"error: {error} (see --help)", file=sys.stderr)
        sys.exit(2)
    except SystemExit:  # Only the help flags (--help, --helpfull, ...) exit while parsing.
        sys.exit(0)


def run(main):
    """`absl.app.run(main)`; a UserError or a bad flag is one `error:` line, not a traceback."""
    def guarded(argv):
        try:
            return main(argv)
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1

    app.run(guarded, flags_parser=_parse_flags)
