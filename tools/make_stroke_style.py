"""Writes samples/style/dark_strokes.png: a generated style image (the project's own work,
no licence question) of coloured strokes on a dark ground, 256x336 (taller than wide).

  python tools/make_stroke_style.py

The tests use it where a style must not brighten the result into white, where colours
cannot be kept (the preserve-colours checks).
"""

import pathlib

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

OUT = pathlib.Path(__file__).resolve().parents[1] / "samples" / "style" / "dark_strokes.png"
GROUND = (20, 24, 48)
PALETTE = ((180, 40, 30), (30, 90, 160), (200, 160, 40), (60, 120, 70))


def stroke_image(width=256, height=336, strokes=260, seed=0):
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (width, height), GROUND)
    draw = ImageDraw.Draw(image)
    for _ in range(strokes):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        angle, length = rng.uniform(0, np.pi), rng.uniform(10, 40)
        colour = np.array(PALETTE[rng.integers(len(PALETTE))]) * rng.uniform(0.6, 1.1)
        draw.line([(x, y), (x + length * np.cos(angle), y + length * np.sin(angle))],
                  fill=tuple(int(c) for c in colour), width=int(rng.integers(3, 9)))
    return image.filter(ImageFilter.GaussianBlur(0.8))


if __name__ == "__main__":
    stroke_image().save(OUT, optimize=True)
    print(f"wrote {OUT}")
