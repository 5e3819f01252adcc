"""A grid of --stroke_scale results: rows are content photos stylized at SIZE px, columns
S = 0.5, 1, 2, 4 (and S = 2 without the content's detail put back, for comparison), each
cell a 100% crop of CROP px from the image's centre.

    python benchmarks/stroke_grid.py --output /tmp/stroke_grid.png [--style PATH]
        [--detail_output /tmp/detail.png]

`--detail_output` also writes, at the photos' native size (real fine detail), content |
S=1 | S=2 | S=2 without the detail step, shown at 2x.
"""

import argparse
import pathlib

import numpy as np
from PIL import Image, ImageDraw

from arbitrary_style import backends, image_io, memory, pipeline
from arbitrary_style.weights import store

SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "images"
CONTENTS = ["golden_gate_sq.jpg", "colva_beach_sq.jpg", "statue_of_liberty_sq.jpg"]
SCALES = [0.5, 1, 2, 4]


def no_detail(model, content, vector, scale):
    """S without the detail step: stylize a resized copy, resize the result back."""
    height, width = content.shape[:2]
    small = image_io.resize(content, memory.work_size((width, height), scale))
    return image_io.resize(model.stylize(small, vector), (width, height), Image.BICUBIC)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True)
    parser.add_argument("--style", default=str(SHARED / "style" / "La_forma.jpg"))
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--crop", type=int, default=384)
    parser.add_argument("--detail_output")
    parser.add_argument("--max_memory", type=int, default=8 << 30,
                        help="bytes; S=0.5 at 2048 px needs ~7 GiB whole, else it is tiled")
    args = parser.parse_args()
    model = backends.load(store.resolve_weights(None))
    vector = model.predict_style(image_io.load_image(args.style))
    labels = [f"S={s}" for s in SCALES] + ["S=2, no detail"]
    rows = []
    for name in CONTENTS:
        photo = image_io.load_image(SHARED / "content" / name)
        content = image_io.resize(photo, (args.size, args.size), Image.BICUBIC)
        cells = [pipeline.Stylizer(model, vector, pipeline.StylizeOptions(
            stroke_scale=s, max_memory=args.max_memory)).array(content) for s in SCALES]
        cells.append(no_detail(model, content, vector, 2))
        top = (args.size - args.crop) // 2
        rows.append(np.concatenate([c[top:top + args.crop, top:top + args.crop]
                                    for c in cells], axis=1))
    grid = np.round(np.clip(np.concatenate(rows, axis=0), 0, 1) * 255).astype(np.uint8)
    banner = Image.new("RGB", (grid.shape[1], 24), "white")
    draw = ImageDraw.Draw(banner)
    for index, label in enumerate(labels):
        draw.text((index * args.crop + 6, 6), label, fill="black")
    picture = Image.new("RGB", (grid.shape[1], grid.shape[0] + 24))
    picture.paste(banner, (0, 0))
    picture.paste(Image.fromarray(grid), (0, 24))
    image_io.save_image(np.asarray(picture), args.output)
    print(args.output)
    if args.detail_output:
        detail_grid(model, vector, args.detail_output)


def detail_grid(model, vector, output):
    """Native-size photos: content | S=1 | S=2 | S=2 without detail, enlarged 2x."""
    rows = []
    for name in CONTENTS:
        content = image_io.load_image(SHARED / "content" / name)
        rows.append(np.concatenate([
            content, pipeline.Stylizer(model, vector).array(content),
            pipeline.Stylizer(model, vector, pipeline.StylizeOptions(stroke_scale=2)).array(
                content), no_detail(model, content, vector, 2)], axis=1))
    grid = np.concatenate(rows, axis=0)
    image_io.save_image(image_io.resize(grid, (grid.shape[1] * 2, grid.shape[0] * 2),
                                        Image.NEAREST), output)
    print(output)


if __name__ == "__main__":
    main()
