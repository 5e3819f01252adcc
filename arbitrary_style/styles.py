"""python -m arbitrary_style.styles tune|list|remove|sheet — tuned styles (`tuned_styles`).

  tune STYLE_IMAGE --name NAME [--contents DIR] [--steps N] [--norm_steps N] [--size PX]
       [--zoomed_crops N]
      start from the style vector the network predicts and lower the VGG-19 (Gatys) loss
      of the transformer's output over the content photos in DIR (default: the built-in
      set) and N (default 2) zoomed-in corners of each, by Adam on the vector, then
      (--norm_steps) on every instance norm's beta and gamma, sliding along the bound
      --max_content_ratio on the content loss (times the predicted vector's); store the
      best step within it (Ctrl-C stores the best so far and exits 130)
  list                 the tuned styles: the cache's and the built-ins
  remove NAME          delete a tuned style from the cache
  sheet --content PHOTO --output SHEET.jpg [--styles @a,@b] [--size PX]
      one picture of the photo in every tuned style (or those --styles names)

A tuned style belongs to the weights it was tuned with (default: the default weights).
Use it as `--styles @NAME` wherever a style image goes.
"""

import math
import pathlib
import sys

import numpy as np
from absl import flags

from arbitrary_style import (
    backends, cli, common_flags, image_io, loss_flags, specs, tuned_styles)
from arbitrary_style.errors import UserError

EXIT_INTERRUPTED = 130

FLAGS = flags.FLAGS


def square_views(image, size, zoomed_crops=0):
    """The central square of an image [H, W, 3], then the first `zoomed_crops` of its
    half-size corner crops (top left, bottom right, top right, bottom left), each resized
    to `size` x `size`: [1 + zoomed_crops, size, size, 3]."""
    square = image_io.center_crop_aspect(image, 1.0)
    side = square.shape[0]
    half, far = side // 2, side - side // 2
    corners = ((0, 0), (far, far), (0, far), (far, 0))[:zoomed_crops]
    views = [square] + [square[y:y + half, x:x + half] for y, x in corners]
    return np.stack([image_io.resize(view, (size, size)) for view in views])


def content_paths(directory=None):
    """The photos of `directory`, or the built-in set; UserError when there are none."""
    if directory is None:
        return tuned_styles.builtin_contents()
    paths = image_io.list_images(directory)
    if not paths:
        raise UserError(f"--contents {directory} holds no images")
    return paths


def load_contents(paths, size, zoomed_crops=0):
    """The photos' `square_views`, one batch [N * (1 + zoomed_crops), size, size, 3]."""
    return np.concatenate([square_views(image_io.load_image(p), size, zoomed_crops)
                           for p in paths])


def cmd_tune(args):
    from tqdm import tqdm

    from arbitrary_style.losses import LossConfig, StyleLoss, weights_argument
    from arbitrary_style.weights import store

    if len(args) != 1:
        raise UserError("tune takes one style image")
    if not FLAGS.name:
        raise UserError("tune needs --name NAME")
    target = tuned_styles.style_path(FLAGS.name)
    if target.exists() and not FLAGS.force:
        raise UserError(f"a tuned style {FLAGS.name!r} exists ({target}); --force replaces it")
    style = image_io.limit_long_side(image_io.load_image(args[0]), FLAGS.size)
    paths = content_paths(FLAGS.contents)
    contents = load_contents(paths, FLAGS.size, FLAGS.zoomed_crops)
    weights = FLAGS.weights or store.DEFAULT_WEIGHTS
    model = store.load_model(store.resolve_weights(weights))
    loss = StyleLoss(LossConfig("vgg19"), weights=weights_argument(FLAGS.vgg_weights))

    with tqdm(total=FLAGS.steps + FLAGS.norm_steps, unit="step", file=sys.stderr,
              dynamic_ncols=True) as bar:
        def progress(step, entry):
            bar.update(step - bar.n)
            bar.set_postfix(loss=f"{entry['total']:.4g}", stage=entry["stage"])

        try:
            result = tuned_styles.tune(
                model, style, contents, loss=loss, steps=FLAGS.steps,
                norm_steps=FLAGS.norm_steps, learning_rate=FLAGS.learning_rate,
                norm_learning_rate=FLAGS.norm_learning_rate,
                content_weight=FLAGS.content_weight,
                max_content_ratio=FLAGS.max_content_ratio, callback=progress)
            interrupted = False
        except tuned_styles.Interrupted as stop:
            result, interrupted = stop.result, True
    first, best = result.history[0], result.history[result.best]
    path = tuned_styles.save(FLAGS.name, result.vector, weights=weights,
                             norm_offsets=result.norm_offsets,
                             details=tune_details(args[0], paths, result))
    print(f"{'interrupted; ' if interrupted else ''}saved {FLAGS.name} to {path}: "
          f"{'vector and per-layer norms' if result.norm_offsets else 'vector'}, step "
          f"{result.best}; on the tuning photos style loss x{best['style'] / first['style']:.2f}"
          f", content loss x{best['content'] / first['content']:.2f} of the predicted vector's")
    return EXIT_INTERRUPTED if interrupted else 0


def tune_details(style_image, paths, result):
    """What a stored style records about its tuning."""
    first, best = result.history[0], result.history[result.best]
    return {
        "style_image": pathlib.Path(style_image).name,
        "contents": [pathlib.Path(p).name for p in paths], "size": FLAGS.size,
        "zoomed_crops": FLAGS.zoomed_crops,
        "loss_network": "vgg19", "vgg_weights": FLAGS.vgg_weights,
        "learning_rate": FLAGS.learning_rate, "norm_learning_rate": FLAGS.norm_learning_rate,
        "content_weight": FLAGS.content_weight, "max_content_ratio": FLAGS.max_content_ratio,
        "steps_done": len(result.history) - 1, "best_step": result.best,
        "best_stage": best["stage"],
        "loss_predicted": first["total"], "loss_tuned": best["total"],
        "content_predicted": first["content"], "content_tuned": best["content"],
        "style_predicted": first["style"], "style_tuned": best["style"]}


def cmd_list(args):
    if args:
        raise UserError("list takes no arguments")
    cached = tuned_styles.names()
    builtins = [name for name in tuned_styles.builtin_names() if name not in cached]
    for name in cached + builtins:  # The cache's first (one overrides a built-in's name).
        record = tuned_styles.load(name)
        notes = ["built-in" if record["builtin"] else "cache"]
        if "norm_offsets" in record:
            notes.append("per-layer norms")
        if record.get("painting"):
            notes.append(f"{record['painting']}, {record.get('painter', '')}")
        if "style_predicted" in record:  # Format 2: the ratios on the tuning photos.
            gain = (f"style x{record['style_tuned'] / record['style_predicted']:.2f}, content "
                    f"x{record['content_tuned'] / record['content_predicted']:.2f}")
        else:
            gain = (f"loss {record.get('loss_predicted', float('nan')):.4g} -> "
                    f"{record.get('loss_tuned', float('nan')):.4g}")
        image = f" style_image={record['style_image']}" if record.get("style_image") else ""
        print(f"@{name}: weights={record['weights']}{image} {gain} ({'; '.join(notes)})")
    return 0


def cmd_remove(args):
    if len(args) != 1:
        raise UserError("remove takes one style name")
    tuned_styles.remove(args[0].removeprefix("@"))
    print(f"removed {args[0]}")
    return 0


def render_sheet(model, content, styles, *, columns=6, label=True):
    """[H, W, 3] uint8: the content, then the content in each tuned style
    (`tuned_styles.TunedStyle`), with names."""
    from PIL import Image, ImageDraw

    from arbitrary_style import norm_params

    tiles = [("content", content)]
    for style in styles:
        tiles.append((f"@{style.name}", model.stylize(content, style.vector, norm_offsets=(
            norm_params.flatten(style.norm_offsets, model.config.alpha)))))
    height, width = content.shape[:2]
    label_height = 16 if label else 0
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * width, rows * (height + label_height)), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (title, image) in enumerate(tiles):
        x, y = (index % columns) * width, (index // columns) * (height + label_height)
        sheet.paste(Image.fromarray(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)),
                    (x, y + label_height))
        if label:
            draw.text((x + 3, y + 2), title, fill="black")
    return np.asarray(sheet)


def cmd_sheet(args):
    from arbitrary_style.weights import store

    if args:
        raise UserError("sheet takes no arguments; give --content PHOTO --output SHEET")
    if not FLAGS.content or len(FLAGS.content) != 1 or not FLAGS.output:
        raise UserError("sheet needs one --content PHOTO and --output SHEET.jpg")
    names = ([str(path).removeprefix("@") for path, _ in specs.parse_styles(FLAGS.styles)]
             if FLAGS.styles else tuned_styles.all_names())
    if not names:
        raise UserError("no tuned styles to show")
    weights = FLAGS.weights or store.DEFAULT_WEIGHTS
    styles = [tuned_styles.style_for(name, weights) for name in names]  # Before the model.
    content = image_io.limit_long_side(image_io.load_image(FLAGS.content[0]), FLAGS.size)
    model = backends.load(store.resolve_weights(weights), FLAGS.backend)
    sheet = render_sheet(model, content, styles)
    image_io.save_image(sheet.astype(np.float32) / 255.0, FLAGS.output)
    print(f"wrote {FLAGS.output}: {len(names)} styles")
    return 0


def define_flags():
    """Defines the command's flags (only when run as `__main__`: flags are process-global)."""
    flags.DEFINE_string("name", None, "tune: the name to store the style under.")
    flags.DEFINE_string("contents", None, "tune: a directory of content photos to tune over "
                        "(each center-cropped to a square of --size pixels, with its "
                        "--zoomed_crops). Default: the built-in set "
                        "(arbitrary_style/library/contents).")
    for name, option in tuned_styles.OPTIONS.items():
        define = flags.DEFINE_integer if option.type is int else flags.DEFINE_float
        sheet = " sheet: longer side of the photo." if name == "size" else ""
        define(name, option.default, f"tune: {option.help}{sheet}",
               lower_bound=option.lower_bound,
               upper_bound=None if math.isinf(option.upper_bound) else option.upper_bound)
    common_flags.define("weights", "content", "output", "styles", "backend")
    loss_flags.define_vgg_weights()
    flags.DEFINE_bool("force", False, "tune: replace a tuned style of the same name.")


COMMANDS = {"tune": cmd_tune, "list": cmd_list, "remove": cmd_remove, "sheet": cmd_sheet}


def main(argv):
    if len(argv) < 2 or argv[1] not in COMMANDS:
        raise UserError(f"give a command: one of {', '.join(COMMANDS)} (see --help)")
    return COMMANDS[argv[1]](argv[2:])


if __name__ == "__main__":
    define_flags()
    cli.run(main, takes_arguments=True)
