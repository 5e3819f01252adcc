"""python -m arbitrary_style.backends build [NAME_OR_DIR] — build the light graphs now.

Weights other than the built-in ones get their light (onnxruntime) graphs built on first
use; this builds them ahead of time (a worker image, a read-only cache later) and prints
their directory. Needs the `tensorflow` extra; the built-in weights ship theirs. NAME_OR_DIR
is a cache name or a weights directory (default: the default weights).
"""

from arbitrary_style import cli
from arbitrary_style.backends import light_graphs
from arbitrary_style.errors import UserError
from arbitrary_style.weights import store


def main(argv):
    if len(argv) not in (2, 3) or argv[1] != "build":
        raise UserError("give the command: build [NAME_OR_DIR] (see --help)")
    print(light_graphs.build_graphs(store.resolve_weights(argv[2] if len(argv) == 3 else None)))
    return 0


if __name__ == "__main__":
    cli.run(main, takes_arguments=True)
