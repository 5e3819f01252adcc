"""How upstream tensors (Magenta names, foreign layouts, folded batch norm) map to our variables.

Every importer turns its source into `{magenta_name: (array, layout)}` and hands it to
`to_keras_tensors`, so names, transposes and batch-norm unfolding live only here.
"""

import numpy as np

from arbitrary_style.errors import UserError
from arbitrary_style.model_config import BATCH_NORM_EPSILON, ModelConfig

# Magenta's variable leaf names -> Keras's.
_LEAF_NAMES = {"weights": "kernel", "depthwise_weights": "kernel", "biases": "bias",
               # What TFLite/ONNX call the bias a conv gets when batch norm is folded into it.
               "Conv2D_bias": "bias", "depthwise_bias": "bias"}

# Kernel layouts: TF checkpoints and TF.js use HWIO, ONNX OIHW, TFLite OHWI. Depthwise
# kernels (Keras/TF: H, W, C, 1) arrive as ONNX (C, 1, H, W) and TFLite (1, H, W, C).
_CONV_TO_HWIO = {"HWIO": (0, 1, 2, 3), "OIHW": (2, 3, 1, 0), "OHWI": (1, 2, 3, 0)}
_DEPTHWISE_TO_HWCM = {"HWIO": (0, 1, 2, 3), "OIHW": (2, 3, 0, 1), "OHWI": (1, 2, 3, 0)}
LAYOUTS = tuple(_CONV_TO_HWIO)

_BATCH_NORM_LEAVES = ("beta", "gamma", "moving_mean", "moving_variance")


def is_variable_name(name):
    """True for a Magenta name of a trained variable (not an op constant such as an epsilon)."""
    leaf = name.rpartition("/")[2]
    return leaf in _LEAF_NAMES or (leaf in _BATCH_NORM_LEAVES and "/BatchNorm/" in name)


def keras_path(magenta_name):
    """'style_params/transformer/.../Conv/weights' -> 'transformer/.../Conv/kernel'."""
    name = magenta_name.removeprefix("style_params/")
    scope, _, leaf = name.rpartition("/")
    return f"{scope}/{_LEAF_NAMES.get(leaf, leaf)}"


def _to_keras_layout(name, array, layout):
    if array.ndim != 4:
        return array
    if layout not in _CONV_TO_HWIO:
        raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")
    depthwise = name.endswith("depthwise_weights")
    return array.transpose((_DEPTHWISE_TO_HWCM if depthwise else _CONV_TO_HWIO)[layout])


def to_keras_tensors(magenta_tensors, layout, model_shapes):
    """Maps upstream tensors onto the variables of a model.

    Args:
      magenta_tensors: {Magenta variable name: float array} from one upstream artifact.
      layout: the artifact's kernel layout, one of LAYOUTS.
      model_shapes: {Keras variable path: shape} of the model to fill.

    Returns:
      {Keras variable path: float32 array}, covering every variable of the model.

    Raises:
      UserError: a tensor has no place in the model, a shape differs, or a model
        variable is left without a value.
    """
    result = {}
    for name, array in magenta_tensors.items():
        path = keras_path(name)
        array = _to_keras_layout(name, np.asarray(array, np.float32), layout)
        if path not in model_shapes and path.endswith("/bias"):
            result.update(_unfold_batch_norm(path, array, model_shapes))
            continue
        if path not in model_shapes:
            raise UserError(f"weights tensor {name!r} has no place in this model "
                            f"(no variable {path!r}); is it the right backbone/alpha?")
        result[path] = _reshape(name, array, model_shapes[path])
    missing = sorted(set(model_shapes) - set(result))
    if missing:
        raise UserError(f"the weights lack {len(missing)} of the model's variables, "
                        f"e.g. {missing[0]!r}")
    return result


def _reshape(name, array, shape):
    """A 1x1 conv kernel [1,1,I,O] fills a Dense kernel [I,O]; other shapes must match."""
    shape = tuple(shape)
    if array.shape != shape and array.size == int(np.prod(shape)) and array.shape[:2] == (1, 1):
        return array.reshape(shape)
    if array.shape != shape:
        raise UserError(f"weights tensor {name!r} has shape {array.shape}, "
                        f"the model expects {shape}; is it the right backbone/alpha?")
    return array


def _unfold_batch_norm(bias_path, bias, model_shapes):
    """A conv bias where our model has Conv -> BatchNorm (TFLite/ONNX fold batch norm).

    The folded kernel goes to the conv unchanged and the bias becomes an identity
    batch norm with `beta = bias`. A bias before instance norm is dropped: the
    per-channel mean subtraction cancels any constant exactly.
    """
    scope = bias_path.removesuffix("/bias")
    if f"{scope}/BatchNorm/beta" in model_shapes:
        ones = np.ones_like(bias)
        unfolded = {"beta": bias, "gamma": ones, "moving_mean": np.zeros_like(bias),
                    "moving_variance": ones - BATCH_NORM_EPSILON}
        return {f"{scope}/BatchNorm/{leaf}": value for leaf, value in unfolded.items()
                if f"{scope}/BatchNorm/{leaf}" in model_shapes}
    if any(path.startswith(f"{scope}/StyleNorm/") for path in model_shapes):
        return {}
    raise UserError(f"weights have a bias for {scope!r}, which this model does not have; "
                    "is it the right backbone/alpha?")


# Top-level scopes of the two networks; anything else in a checkpoint (the VGG loss
# network, global_step, optimizer state) is not part of the model.
MODEL_SCOPES = ("transformer", "style_params", "MobilenetV2", "mobilenet_conv", "InceptionV3",
                "Conv")
_BACKBONE_SCOPES = {"MobilenetV2": "mobilenet_v2", "InceptionV3": "inception_v3"}
_ALPHA_PROBE = "transformer/contract/conv1/weights"  # 32 * alpha output channels
_OUTPUT_AXIS = {"HWIO": 3, "OIHW": 0, "OHWI": 0}


def model_tensors(magenta_tensors):
    """Keeps the tensors that belong to the two networks."""
    return {name: array for name, array in magenta_tensors.items()
            if name.split("/", 1)[0] in MODEL_SCOPES and is_variable_name(name)}


def infer_config(magenta_tensors, layout):
    """The (backbone, alpha) a set of Magenta-named tensors was trained with."""
    backbones = {_BACKBONE_SCOPES[name.split("/", 1)[0]] for name in magenta_tensors
                 if name.split("/", 1)[0] in _BACKBONE_SCOPES}
    if len(backbones) != 1 or _ALPHA_PROBE not in magenta_tensors:
        raise UserError("the weights do not hold exactly one style predictor backbone "
                        "(MobilenetV2 or InceptionV3) and a transformer")
    channels = magenta_tensors[_ALPHA_PROBE].shape[_OUTPUT_AXIS[layout]]
    return ModelConfig(backbone=backbones.pop(), alpha=channels / 32)
