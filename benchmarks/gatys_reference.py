"""The Gatys reference on ImageNet VGG-19 beside the fast network: a contact sheet and losses.

    python benchmarks/gatys_reference.py --pair CONTENT STYLE [--pair ...] \\
        --output docs/gatys_vgg19.jpg [--steps 100] [--size 256] [--tile 200]

For each (content, style) pair: the fast network's stylization (the default weights), and
Gatys et al.'s optimization (`optimize.optimize_image`, L-BFGS from the content, the
default `--loss_network vgg19` loss: the cached imported VGG-19, Gatys's layers). Both are
scored with that same loss. Writes a JPEG contact sheet (rows: pairs; columns: content,
style, fast network, Gatys) and prints a markdown table of content/style losses and times.
"""

import argparse
import pathlib
import time

import numpy as np
from PIL import Image

from arbitrary_style import backends, image_io, pipeline
from arbitrary_style.losses import LossConfig, StyleLoss
from arbitrary_style.optimize import optimize_image
from arbitrary_style.weights import store


def contact_tile(image, size):
    """A float image [H,W,3] fitted into a white `size` x `size` contact-sheet cell."""
    tile = Image.new("RGB", (size, size), "white")
    picture = Image.fromarray(np.uint8(np.clip(image, 0, 1) * 255 + 0.5))
    picture.thumbnail((size, size), Image.LANCZOS)
    tile.paste(picture, ((size - picture.width) // 2, (size - picture.height) // 2))
    return tile


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", nargs=2, action="append", required=True,
                        metavar=("CONTENT", "STYLE"))
    parser.add_argument("--output", required=True, help="the contact sheet (.jpg)")
    parser.add_argument("--steps", type=int, default=100, help="L-BFGS iterations")
    parser.add_argument("--size", type=int, default=256, help="longer side of the images")
    parser.add_argument("--tile", type=int, default=200, help="contact-sheet cell size")
    args = parser.parse_args()

    model = backends.load(store.resolve_weights(None))
    loss = StyleLoss(LossConfig("vgg19"))
    rows = []
    print("| content | style | fast: content | fast: style | Gatys: content | Gatys: style "
          "| Gatys s |\n|---|---|---|---|---|---|---|")
    for content_path, style_path in args.pair:
        content = image_io.limit_long_side(image_io.load_image(content_path), args.size)
        style = image_io.load_image(style_path)
        fast = pipeline.Stylizer(model, model.predict_style(style)).array(content)
        style = image_io.limit_long_side(style, args.size)
        started = time.perf_counter()
        gatys, _ = optimize_image(content, [style], loss=loss, steps=args.steps)
        seconds = time.perf_counter() - started
        targets = loss.targets(content[np.newaxis], [style], style_blend=[1.0])
        scores = [loss.loss(image[np.newaxis], targets)[1] for image in (fast, gatys)]
        print(f"| {pathlib.Path(content_path).stem} | {pathlib.Path(style_path).stem} | "
              + " | ".join(f"{float(parts[term]):.3g}" for parts in scores
                           for term in ("content", "style")) + f" | {seconds:.0f} |")
        rows.append([contact_tile(image, args.tile) for image in (content, style, fast, gatys)])
    sheet = Image.new("RGB", (4 * args.tile, len(rows) * args.tile), "white")
    for y, row in enumerate(rows):
        for x, tile in enumerate(row):
            sheet.paste(tile, (x * args.tile, y * args.tile))
    image_io.save_image(np.asarray(sheet, np.float32) / 255.0, args.output, quality=85)


if __name__ == "__main__":
    main()
