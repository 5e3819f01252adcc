"""Start a style predictor from ImageNet: copy `keras.applications` weights into its backbone.

Magenta trained from slim's ImageNet checkpoints; we start from the ImageNet weights of
`keras.applications.MobileNetV2(alpha=1.0)` / `InceptionV3`, which have the same layers
under Keras's names. Only the backbone is set; the 100-d bottleneck head is left as is.

    summary = load_imagenet_backbone(model, "mobilenet_v2")  # downloads via Keras once

Weights carry over unchanged. Our MobileNetV2 then computes Keras's features exactly
wherever Keras pads as slim's SAME (a fixed input size, or multiples of 32 when the size
is left open); our InceptionV3 (ReLU6, as slim) matches Keras's (ReLU) while every
activation stays below 6.
"""

import pathlib
import zipfile

import keras

from arbitrary_style.errors import UserError

# backbone -> (keras.applications constructor, input shape of its ImageNet weights).
_APPLICATIONS = {
    "mobilenet_v2": (keras.applications.MobileNetV2, (224, 224, 3)),
    "inception_v3": (keras.applications.InceptionV3, (299, 299, 3)),
}
# Our backbone layer (the scope of its variables) within a style predictor.
_BACKBONE_LAYERS = {"mobilenet_v2": "MobilenetV2", "inception_v3": "InceptionV3"}
_MOBILENET_V2_BLOCKS = 17  # expanded_conv, expanded_conv_1 .. expanded_conv_16
_INCEPTION_LAST_BLOCK = "mixed7"  # Keras's name of slim's Mixed_6e


def load_imagenet_backbone(model, backbone, weights="imagenet"):
    """Copies ImageNet weights into the backbone of a style predictor.

    Args:
      model: a `StyleModel`, or a style predictor from `build_style_predictor`.
      backbone: "mobilenet_v2" or "inception_v3" (the predictor's backbone).
      weights: "imagenet" (Keras downloads and caches the file), the path of a weights
        file (`.h5`, `.weights.h5`, `.keras`) for `keras.applications.<Net>(include_top=False)`,
        or such a `keras.Model` already built.

    Returns:
      A one-line summary, e.g. "copied 260 tensors from keras.applications ... into MobilenetV2".

    Raises:
      UserError: unknown backbone, unreadable weights file, or a Keras model whose
        weights do not cover the backbone exactly (names or shapes differ).
    """
    if backbone not in _APPLICATIONS:
        raise UserError(f"unknown backbone {backbone!r}; choose one of {sorted(_APPLICATIONS)}")
    predictor = getattr(model, "predictor", model)
    try:
        ours = predictor.get_layer(_BACKBONE_LAYERS[backbone])
    except ValueError:
        raise UserError(f"the style predictor has no {_BACKBONE_LAYERS[backbone]!r} layer; "
                        f"is it a {backbone} predictor?") from None
    given_model = isinstance(weights, keras.Model)
    keras_model = weights if given_model else build_keras_model(backbone, weights)
    if backbone == "mobilenet_v2":
        pairs = _mobilenet_v2_pairs(keras_model)
    else:
        pairs = _inception_v3_pairs(keras_model, ours)
    _assign(ours, pairs, source=f"Keras model {keras_model.name!r}")
    origin = "a Keras model" if given_model else str(weights)
    return (f"copied {len(pairs)} tensors from keras.applications {keras_model.name} "
            f"({origin}) into {ours.name}")


def build_keras_model(backbone, weights="imagenet"):
    """`keras.applications` model (no top) of a backbone, with weights loaded by Keras."""
    application, input_shape = _APPLICATIONS[backbone]
    if weights != "imagenet":
        path = pathlib.Path(weights)
        if not path.is_file():
            raise UserError(f"ImageNet weights file {path} does not exist")
        weights = str(path)
    try:
        return application(include_top=False, weights=weights, input_shape=input_shape)
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise UserError(f"cannot load {weights} into keras.applications."
                        f"{application.__name__}: {error}") from None


def _mobilenet_v2_scopes():
    """{Keras MobileNetV2 layer name: our scope}, e.g. block_5_depthwise_BN ->
    expanded_conv_5/depthwise/BatchNorm."""
    scopes = {"Conv1": "Conv", "bn_Conv1": "Conv/BatchNorm",
              "Conv_1": "Conv_1", "Conv_1_bn": "Conv_1/BatchNorm"}
    for i in range(_MOBILENET_V2_BLOCKS):
        keras_block, block = (f"block_{i}", f"expanded_conv_{i}") if i else ("expanded_conv",) * 2
        for part in ("expand", "depthwise", "project"):
            scopes[f"{keras_block}_{part}"] = f"{block}/{part}"
            scopes[f"{keras_block}_{part}_BN"] = f"{block}/{part}/BatchNorm"
    return scopes


def _mobilenet_v2_pairs(keras_model):
    """[(our variable path, Keras variable)] for every weight of Keras's MobileNetV2."""
    scopes = _mobilenet_v2_scopes()
    pairs = []
    for layer in keras_model.layers:
        if layer.weights and layer.name not in scopes:
            raise UserError(f"Keras layer {layer.name!r} has no place in MobilenetV2; is the "
                            "Keras model keras.applications.MobileNetV2(include_top=False)?")
        pairs += [(f"MobilenetV2/{scopes[layer.name]}/{w.name}", w) for w in layer.weights]
    return pairs


def _inception_v3_pairs(keras_model, ours):
    """[(our variable path, Keras variable)] for Keras's InceptionV3 up to mixed7.

    Keras's layer names are numbered (`conv2d_57`), so convs are matched by position:
    Keras's convs in slim's order (stem, then each block's branches 0..3) zipped with
    our convs in creation order; each conv's BatchNorm goes with it.
    """
    our_scopes = [w.path.removesuffix("/kernel") for w in ours.weights
                  if w.path.endswith("/kernel")]
    keras_convs = _conv_batch_norms_in_branch_order(keras_model)
    if len(keras_convs) != len(our_scopes):
        raise UserError(f"the Keras model has {len(keras_convs)} convolutions up to "
                        f"{_INCEPTION_LAST_BLOCK}, InceptionV3 up to Mixed_6e has "
                        f"{len(our_scopes)}; is it keras.applications.InceptionV3?")
    pairs = []
    for scope, (conv, batch_norm) in zip(our_scopes, keras_convs, strict=True):
        pairs.append((f"{scope}/kernel", conv.kernel))
        pairs += [(f"{scope}/BatchNorm/{w.name}", w) for w in batch_norm.weights]
    return pairs


def _conv_batch_norms_in_branch_order(keras_model):
    """(Conv2D, BatchNormalization) pairs up to mixed7, in slim's order.

    `keras_model.layers` is in depth order (branches interleaved), so this walks the
    graph depth-first from mixed7, visiting each layer's inputs (a block's branches)
    in order and listing a layer after its inputs.
    """
    try:
        last = keras_model.get_layer(_INCEPTION_LAST_BLOCK)
    except ValueError:
        raise UserError(f"the Keras model has no layer {_INCEPTION_LAST_BLOCK!r}; is it "
                        "keras.applications.InceptionV3?") from None
    producers = {id(layer.output): layer for layer in keras_model.layers}
    ordered, seen = [], set()

    def visit(layer):
        if id(layer) not in seen:
            seen.add(id(layer))
            inputs = layer.input if isinstance(layer.input, list) else [layer.input]
            for tensor in inputs:
                visit(producers[id(tensor)])
            ordered.append(layer)

    visit(last)
    return [(producers[id(layer.input)], layer) for layer in ordered
            if isinstance(layer, keras.layers.BatchNormalization)]


def _assign(ours, pairs, *, source):
    """Sets every variable of `ours` from [(path, Keras variable)]; all or nothing."""
    variables = {v.path: v for v in ours.weights}
    for path, keras_variable in pairs:
        if path not in variables:
            raise UserError(f"{source}: {keras_variable.path} maps to {path!r}, which "
                            f"{ours.name} does not have")
        if tuple(keras_variable.shape) != tuple(variables[path].shape):
            raise UserError(f"{source}: {keras_variable.path} has shape "
                            f"{tuple(keras_variable.shape)}, {path} expects "
                            f"{tuple(variables[path].shape)}; is it the right network/width?")
    missing = sorted(set(variables) - {path for path, _ in pairs})
    if missing:
        raise UserError(f"{source} does not cover {ours.name}: {len(missing)} variables "
                        f"without a value, e.g. {missing[0]!r}")
    for path, keras_variable in pairs:
        variables[path].assign(keras_variable.value)
