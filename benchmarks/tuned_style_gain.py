"""What tuning a style buys on held-out photos: VGG-19 losses of predicted vs tuned vector.

    python benchmarks/tuned_style_gain.py --style S.jpg --tune_contents DIR --held_out DIR \\
        [--steps 30] [--size 256]

Tunes the style's vector (`tuned_styles.tune_vector`, the default weights, the imported
VGG-19 with Gatys's layers) on the photos of --tune_contents, then scores the predicted
and the tuned vector on the photos of --held_out with the same loss. Prints one markdown
row: content and style loss (means over the held-out photos) of each vector, and minutes.
"""

import argparse
import pathlib
import time

import numpy as np

from arbitrary_style import image_io, tuned_styles
from arbitrary_style.losses import LossConfig, StyleLoss
from arbitrary_style.styles import square_crop
from arbitrary_style.weights import store


def _photos(directory, size):
    return np.stack([square_crop(image_io.load_image(p), size)
                     for p in image_io.list_images(directory)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--style", required=True)
    parser.add_argument("--tune_contents", required=True)
    parser.add_argument("--held_out", required=True)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()

    model = store.load_model(store.resolve_weights(None))
    loss = StyleLoss(LossConfig("vgg19"))
    style = image_io.limit_long_side(image_io.load_image(args.style), args.size)
    started = time.perf_counter()
    tuned, history = tuned_styles.tune_vector(model, style, _photos(args.tune_contents, args.size),
                                              loss=loss, steps=args.steps)
    minutes = (time.perf_counter() - started) / 60
    held_out = _photos(args.held_out, args.size)
    targets = loss.targets(held_out, [style], style_blend=[1.0])
    scores = []
    for vector in (model.predict_style(style), tuned):
        stylized = model.stylize(held_out, np.repeat(vector[np.newaxis], len(held_out), 0))
        parts = loss.loss(stylized, targets)[1]
        scores += [float(parts["content"]), float(parts["style"])]
    print("| style | predicted: content | predicted: style | tuned: content | tuned: style "
          "| tuning loss start -> best | minutes |\n|---|---|---|---|---|---|---|")
    print(f"| {pathlib.Path(args.style).stem} | " + " | ".join(f"{s:.3g}" for s in scores)
          + f" | {history[0]:.3g} -> {min(history):.3g} | {minutes:.1f} |")


if __name__ == "__main__":
    main()
