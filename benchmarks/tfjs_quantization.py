"""How far each TF.js export quantization is from the Keras model, on a photo.

    python -m export.tfjs --setup && npm ci --prefix export/web    # once
    python benchmarks/tfjs_quantization.py [--content PHOTO] [--style STYLE] [--size 1024]

Exports the default weights with each `--quantization`, runs both graphs in Node
(`tests/js/run_graph_models.js`, TF.js cpu backend) on the content (longer side shrunk
to at most --size) and the style (at most 256 px, as the demo feeds it), and prints the absolute
differences from the Keras model's style vector and stylized image (pixels in [0, 1]):
the maximum, a high percentile and the mean.
"""

import argparse
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile

import numpy as np

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))
import arbitrary_style as style  # noqa: E402
from arbitrary_style.image_io import limit_long_side  # noqa: E402
from export import tfjs  # noqa: E402

NODE_SCRIPT = REPOSITORY / "tests" / "js" / "run_graph_models.js"


def as_tensor(image):
    return {"data": image[None].ravel().tolist(), "shape": [1, *image.shape]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--content", default=REPOSITORY / "samples/content/golden_gate_sq.jpg")
    parser.add_argument("--style", default=REPOSITORY / "samples/style/Camille_Mauclair.jpg")
    parser.add_argument("--size", type=int, default=1024)
    args = parser.parse_args()
    model = style.load_pretrained()
    content = limit_long_side(style.load_image(args.content), args.size)
    style_image = limit_long_side(style.load_image(args.style), 256)
    vector = model.predict_style(style_image, size=None)
    expected = {"style_vector": vector, "stylized": model.stylize(content, vector)}
    print(f"content {content.shape[1]}x{content.shape[0]}, style "
          f"{style_image.shape[1]}x{style_image.shape[0]}")
    print("| quantization | vector max | stylized max | stylized 99.9th pct. | stylized mean |"
          "\n|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as work:
        work = pathlib.Path(work)
        inputs = work / "inputs.json"
        inputs.write_text(json.dumps({"style": as_tensor(style_image),
                                      "content": as_tensor(content)}))
        for quantization in tfjs.QUANTIZATIONS:
            tfjs.export_tfjs(model, work / quantization, quantization=quantization,
                             source="benchmark")
            outputs = work / f"{quantization}.json"
            subprocess.run([shutil.which("node"), NODE_SCRIPT, work / quantization, inputs,
                            outputs], check=True)
            result = json.loads(outputs.read_text())
            got = {name: np.asarray(result[name]["data"], np.float32).reshape(
                result[name]["shape"])[0] for name in expected}
            difference = {name: np.abs(got[name] - expected[name]) for name in expected}
            print(f"| {quantization} | {difference['style_vector'].max():.2g} | "
                  f"{difference['stylized'].max():.2g} | "
                  f"{np.percentile(difference['stylized'], 99.9):.2g} | "
                  f"{difference['stylized'].mean():.2g} |")


if __name__ == "__main__":
    main()
