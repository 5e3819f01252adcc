"""What every command-line tool shares: absl flags, one-line errors, help that exits 0."""

import sys

from absl import app, flags

from arbitrary_style.errors import UserError

FLAGS = flags.FLAGS


def _parse_flags(argv):
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        print(f"error: {error} (see --help)", file=sys.stderr)
        sys.exit(2)
    except SystemExit:  # Only the help flags (--help, --helpfull, ...) exit while parsing.
        sys.exit(0)


def _list_shared_flags_in_help():
    """absl's --help shows only the main module's flags; add those our shared modules define
    (e.g. the loss flags here, the data flags of training/common_flags.py)."""
    for module, module_flags in FLAGS.flags_by_module_dict().items():
        if module.startswith(("arbitrary_style.", "training.", "export.")):
            for flag in module_flags:
                FLAGS.register_key_flag_for_module(sys.argv[0], flag)


def run(main, *, takes_arguments=False):
    """`absl.app.run(main)`; a UserError or a bad flag is one `error:` line, not a traceback.

    Positional arguments are refused unless the command `takes_arguments`.
    """
    _list_shared_flags_in_help()

    def guarded(argv):
        try:
            if len(argv) > 1 and not takes_arguments:
                raise UserError(f"unexpected arguments: {' '.join(argv[1:])}")
            return main(argv)
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1

    app.run(guarded, flags_parser=_parse_flags)


def define_loss_flags():
    """The VGG loss flags shared by `optimize` and the training jobs."""
    flags.DEFINE_enum("loss_network", "vgg16", ["vgg16", "vgg19"], "VGG loss network.")
    flags.DEFINE_string("vgg_weights", "imagenet", "VGG weights: 'imagenet' (downloaded by "
                        "keras.applications), 'none' (random; smoke tests only) or a file.")
    flags.DEFINE_string("content_weights", None, "Content loss weight per layer, e.g. "
                        "'vgg_16/conv3:1' (default: DESIGN.md's).")
    flags.DEFINE_string("style_weights", None, "Style loss weight per layer, e.g. "
                        "'vgg_16/conv1:0.5e-3,vgg_16/conv2:0.5e-3' (default: DESIGN.md's).")
    flags.DEFINE_float("total_variation_weight", 1e4, "Total variation loss weight.",
                       lower_bound=0)


def loss_from_flags():
    """(LossConfig, VGG weights argument) from the loss flags; a bad spec is a UserError."""
    from arbitrary_style.losses import config_from_specs, weights_argument

    try:
        config = config_from_specs(FLAGS.loss_network, FLAGS.content_weights,
                                   FLAGS.style_weights, FLAGS.total_variation_weight)
    except ValueError as error:
        raise UserError(str(error)) from None
    return config, weights_argument(FLAGS.vgg_weights)
