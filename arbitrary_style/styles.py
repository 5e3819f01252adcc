"""python -m arbitrary_style.styles tune|list|remove — tuned styles (`tuned_styles`).

  tune STYLE_IMAGE --name NAME --contents DIR [--steps N] [--size PX] [--weights W]
      start from the style vector the network predicts, lower the VGG-19 (Gatys) loss of
      the transformer's output over the content photos in DIR by Adam on the vector, and
      store the best vector as NAME (Ctrl-C stores the best so far and exits 130)
  list                 the tuned styles in the cache
  remove NAME          delete a tuned style

A tuned style belongs to the weights it was tuned with (default: the default weights).
"""

import sys

import numpy as np
from absl import flags

from arbitrary_style import cli, common_flags, image_io, tuned_styles
from arbitrary_style.errors import UserError

EXIT_INTERRUPTED = 130

FLAGS = flags.FLAGS


def square_crop(image, size):
    """The central square of an image [H, W, 3], resized to `size` x `size`."""
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return image_io.resize(image[top:top + side, left:left + side], (size, size))


def cmd_tune(args):
    from tqdm import tqdm

    from arbitrary_style.losses import LossConfig, StyleLoss, weights_argument
    from arbitrary_style.weights import store

    if len(args) != 1:
        raise UserError("tune takes one style image")
    if not FLAGS.name or not FLAGS.contents:
        raise UserError("tune needs --name NAME and --contents DIR")
    target = tuned_styles.style_path(FLAGS.name)
    if target.exists() and not FLAGS.force:
        raise UserError(f"a tuned style {FLAGS.name!r} exists ({target}); --force replaces it")
    style = image_io.limit_long_side(image_io.load_image(args[0]), FLAGS.size)
    paths = image_io.list_images(FLAGS.contents)
    if not paths:
        raise UserError(f"--contents {FLAGS.contents} holds no images")
    contents = np.stack([square_crop(image_io.load_image(p), FLAGS.size) for p in paths])
    weights = FLAGS.weights or store.DEFAULT_WEIGHTS
    model = store.load_model(store.resolve_weights(weights))
    loss = StyleLoss(LossConfig("vgg19"), weights=weights_argument(FLAGS.vgg_weights))

    with tqdm(total=FLAGS.steps, unit="step", file=sys.stderr, dynamic_ncols=True) as bar:
        def progress(step, value):
            bar.update(step - bar.n)
            bar.set_postfix(loss=f"{value:.4g}")

        try:
            vector, history = tuned_styles.tune_vector(
                model, style, contents, loss=loss, steps=FLAGS.steps,
                learning_rate=FLAGS.learning_rate, callback=progress)
            interrupted = False
        except tuned_styles.Interrupted as stop:
            vector, history, interrupted = stop.best_vector, stop.history, True
    best = int(np.argmin(history))
    path = tuned_styles.save(FLAGS.name, vector, weights=weights, details={
        "style_image": args[0], "contents": [str(p) for p in paths], "size": FLAGS.size,
        "loss_network": "vgg19", "vgg_weights": FLAGS.vgg_weights,
        "learning_rate": FLAGS.learning_rate, "steps_done": len(history) - 1,
        "loss_predicted": history[0], "loss_tuned": history[best], "best_step": best})
    print(f"{'interrupted; ' if interrupted else ''}saved {FLAGS.name} to {path}: VGG-19 loss "
          f"{history[0]:.4g} (predicted vector) -> {history[best]:.4g} (step {best})")
    return EXIT_INTERRUPTED if interrupted else 0


def cmd_list(args):
    if args:
        raise UserError("list takes no arguments")
    for name in tuned_styles.names():
        record = tuned_styles.load(name)
        print(f"@{name}: weights={record['weights']} style_image={record.get('style_image')} "
              f"loss {record.get('loss_predicted', float('nan')):.4g} -> "
              f"{record.get('loss_tuned', float('nan')):.4g}")
    return 0


def cmd_remove(args):
    if len(args) != 1:
        raise UserError("remove takes one style name")
    tuned_styles.remove(args[0].removeprefix("@"))
    print(f"removed {args[0]}")
    return 0


def define_flags():
    """Defines the command's flags (only when run as `__main__`: flags are process-global)."""
    flags.DEFINE_string("name", None, "tune: the name to store the style under.")
    flags.DEFINE_string("contents", None, "tune: a directory of content photos to tune over "
                        "(each center-cropped to a square of --size pixels).")
    flags.DEFINE_integer("steps", 50, "tune: Adam updates of the style vector.", lower_bound=0)
    flags.DEFINE_integer("size", 256, "tune: side of the content squares and longer side of "
                         "the style image, in pixels.", lower_bound=16)
    flags.DEFINE_float("learning_rate", 0.05, "tune: Adam's learning rate.", lower_bound=0)
    common_flags.define("weights")
    flags.DEFINE_string("vgg_weights", "imagenet", "tune: VGG-19 weights ('imagenet': the "
                        "imported loss network; 'none': random, smoke tests only).")
    flags.DEFINE_bool("force", False, "tune: replace a tuned style of the same name.")


COMMANDS = {"tune": cmd_tune, "list": cmd_list, "remove": cmd_remove}


def main(argv):
    if len(argv) < 2 or argv[1] not in COMMANDS:
        raise UserError(f"give a command: one of {', '.join(COMMANDS)} (see --help)")
    return COMMANDS[argv[1]](argv[2:])


if __name__ == "__main__":
    define_flags()
    cli.run(main, takes_arguments=True)
