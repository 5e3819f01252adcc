"""Regenerates the built-in weights file from Magenta's mobile ONNX pair.

  python tools/pack_builtin_weights.py [ONNX_DIR [OUT]]

ONNX_DIR defaults to ../shared/pretrained/magenta-mobile-int8 beside the checkout, OUT to
arbitrary_style/pretrained/magenta-mobile.npz. The output is deterministic: the same pair
gives the same bytes (tests/test_builtin_weights.py checks the committed file).
"""

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arbitrary_style import cli  # noqa: E402  (after the path setup above)
from arbitrary_style.errors import UserError  # noqa: E402
from arbitrary_style.weights import builtin  # noqa: E402

DEFAULT_ONNX_DIR = ROOT.parent / "shared" / "pretrained" / "magenta-mobile-int8"
DEFAULT_OUT = ROOT / "arbitrary_style" / "pretrained" / builtin.PACKED_FILE


def main(argv):
    if len(argv) > 3:
        raise UserError("give at most ONNX_DIR and OUT")
    onnx_dir = pathlib.Path(argv[1]) if len(argv) > 1 else DEFAULT_ONNX_DIR
    out = pathlib.Path(argv[2]) if len(argv) > 2 else DEFAULT_OUT
    builtin.pack(onnx_dir, out)
    print(f"wrote {out} ({out.stat().st_size} bytes) from {onnx_dir}")
    return 0


if __name__ == "__main__":
    cli.run(main, takes_arguments=True)
