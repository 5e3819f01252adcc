"""What tuning a style buys on held-out photos: VGG-19 losses of predicted vs tuned style.

    python benchmarks/tuned_style_gain.py --style S.jpg [--style T.jpg ...] \\
        [--tune_contents DIR] --held_out DIR [--steps 15] [--norm_steps 60] [--size 256] \\
        [--zoomed_crops 2]

Tunes each style (`tuned_styles.tune`, the default weights, the imported VGG-19 with
Gatys's layers) on the photos of --tune_contents (default: the built-in set) with their
--zoomed_crops, as `styles tune` does, then scores the predicted and the tuned style on the
photos of --held_out (whole, no crops) with the same loss. Prints one markdown row per
style: content and style loss (means over the held-out photos) of each, their ratios,
whether the goal (style lower at <= 1.2x content) holds, and minutes.
"""

import argparse
import math
import pathlib
import time

import numpy as np

from arbitrary_style import image_io, norm_params, tuned_styles
from arbitrary_style.losses import LossConfig, StyleLoss
from arbitrary_style.styles import load_contents
from arbitrary_style.weights import store

GOAL_CONTENT_RATIO = 1.2


def held_out_losses(model, loss, style, held_out, vector, offsets=None):
    """(content, style) VGG-19 losses of the style on held-out photos [N, S, S, 3]."""
    targets = loss.targets(held_out, [style], style_blend=[1.0])
    stylized = model.stylize(held_out, np.repeat(vector[np.newaxis], len(held_out), 0),
                             norm_offsets=norm_params.flatten(offsets, model.config.alpha))
    parts = loss.loss(stylized, targets)[1]
    return float(parts["content"]), float(parts["style"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--style", action="append", required=True)
    parser.add_argument("--tune_contents", default=None)
    parser.add_argument("--held_out", required=True)
    tuned_styles.add_tuning_arguments(parser)
    parser.add_argument("--verbose", action="store_true", help="print every step's losses")
    args = parser.parse_args()

    model = store.load_model(store.resolve_weights(None))
    loss = StyleLoss(LossConfig("vgg19"))
    tune_paths = (image_io.list_images(args.tune_contents) if args.tune_contents
                  else tuned_styles.builtin_contents())
    contents = load_contents(tune_paths, args.size, args.zoomed_crops)
    held_out = load_contents(image_io.list_images(args.held_out), args.size)
    print("| style | predicted: content | predicted: style | tuned: content | tuned: style "
          "| content x | style x | goal | kept | minutes |\n"
          "|---|---|---|---|---|---|---|---|---|---|")
    for path in args.style:
        style = image_io.limit_long_side(image_io.load_image(path), args.size)
        started = time.perf_counter()
        result = tuned_styles.tune(
            model, style, contents, loss=loss, steps=args.steps, norm_steps=args.norm_steps,
            learning_rate=args.learning_rate, norm_learning_rate=args.norm_learning_rate,
            content_weight=args.content_weight, max_content_ratio=args.max_content_ratio,
            callback=(lambda step, e: print(f"  {e['stage']} {step}: content {e['content']:.4g} "
                                            f"style {e['style']:.4g} total {e['total']:.4g} "
                                            f"{'eligible' if e['eligible'] else ''}",
                                            flush=True)) if args.verbose else None)
        minutes = (time.perf_counter() - started) / 60
        predicted = held_out_losses(model, loss, style, held_out, model.predict_style(style))
        tuned = held_out_losses(model, loss, style, held_out, result.vector,
                                result.norm_offsets)
        content_ratio, style_ratio = tuned[0] / predicted[0], tuned[1] / predicted[1]
        goal = style_ratio < 1 and content_ratio <= GOAL_CONTENT_RATIO
        best = result.history[result.best]
        print(f"| {pathlib.Path(path).stem} | {predicted[0]:.3g} | {predicted[1]:.3g} | "
              f"{tuned[0]:.3g} | {tuned[1]:.3g} | {content_ratio:.2f} | {style_ratio:.2f} | "
              f"{'met' if goal else 'NOT met'} | {best['stage']} step {result.best} | "
              f"{minutes:.1f} |", flush=True)
        if not math.isfinite(style_ratio):
            raise SystemExit("non-finite loss")


if __name__ == "__main__":
    main()
