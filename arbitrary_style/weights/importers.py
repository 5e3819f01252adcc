"""Importers: upstream weight files -> a StyleModel with Magenta's trained values."""

import pathlib

from arbitrary_style.errors import UserError
from arbitrary_style.model import StyleModel
from arbitrary_style.weights.conventions import infer_config, model_tensors, to_keras_tensors
from arbitrary_style.weights.onnx_import import LAYOUT as ONNX_LAYOUT, read_onnx_weights
from arbitrary_style.weights.variables import assign_weights

CHECKPOINT_LAYOUT = "HWIO"


def model_from_tensors(magenta_tensors, layout, *, source):
    """Builds the model the tensors describe (backbone and alpha inferred) and fills it."""
    tensors = model_tensors(magenta_tensors)
    model = StyleModel(infer_config(tensors, layout))
    shapes = {path: tuple(v.shape) for path, v in model.variables.items()}
    assign_weights(model, to_keras_tensors(tensors, layout, shapes), source=source)
    return model


def import_onnx(predict_path, transform_path):
    """From the ONNX pair (style predictor, transformer), e.g. the Magenta mobile int8 models."""
    tensors = {**read_onnx_weights(predict_path), **read_onnx_weights(transform_path)}
    return model_from_tensors(tensors, ONNX_LAYOUT, source=f"{predict_path} + {transform_path}")


def import_onnx_dir(directory):
    """From a directory holding `arbitrary_predict.onnx` and `arbitrary_transform.onnx`."""
    directory = pathlib.Path(directory)
    paths = [directory / "arbitrary_predict.onnx", directory / "arbitrary_transform.onnx"]
    for path in paths:
        if not path.is_file():
            raise UserError(f"{path} does not exist (expected the ONNX pair "
                            "arbitrary_predict.onnx / arbitrary_transform.onnx)")
    return import_onnx(*paths)


def read_checkpoint(prefix):
    """{variable name: array} of a TF checkpoint (a `model.ckpt` prefix or a directory)."""
    import tensorflow as tf

    prefix = str(prefix)
    if pathlib.Path(prefix).is_dir():
        prefix = tf.train.latest_checkpoint(prefix) or _single_index(pathlib.Path(prefix))
    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as error:
        raise UserError(f"cannot read TF checkpoint {prefix}: "
                        f"{str(error).splitlines()[0]}") from None
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def _single_index(directory):
    indexes = sorted(directory.glob("*.index"))
    if len(indexes) != 1:
        raise UserError(f"{directory} should hold exactly one TF checkpoint (*.index), "
                        f"found {len(indexes)}")
    return str(indexes[0].with_suffix(""))


def import_checkpoint(prefix):
    """From a Magenta TF1 checkpoint (or a SavedModel's `variables/variables`)."""
    return model_from_tensors(read_checkpoint(prefix), CHECKPOINT_LAYOUT, source=str(prefix))
