"""Export a model as a TensorFlow SavedModel (TF Serving, `tf.saved_model.load`).

  python -m export.saved_model --weights magenta-mobile --output exported/saved_model

`--output` is the SavedModel directory to write.

Signatures (images float32 NHWC in [0, 1], any batch and size):
  serving_default(placeholder, placeholder_1) -> {"output_0"}  the published TF-Hub module's
      names (magenta/arbitrary-image-stylization-v1-256): content, style -> stylized
  stylize(content, style) -> {"stylized"}   one style image, or one per content
  predict_style(style) -> {"style_vector": [B, 100]}
  transfer(content, style_vector [B or 1, 100]) -> {"stylized"}
  transfer_tuned(content, style_vector, norm_offsets [B or 1, M]) -> {"stylized"}  only with
      `tuned=True` (what `export.tfjs` converts): a tuned style's per-layer offsets as well
Style images are used at the size given; the networks were trained with 256 px styles.
"""

import pathlib

import tensorflow as tf
from absl import flags

from arbitrary_style import atomic, cli, common_flags, signatures
from arbitrary_style.errors import UserError
from arbitrary_style.model_config import STYLE_VECTOR_SIZE
from arbitrary_style.weights import store

class StylizationModule(tf.Module):
    """The two networks behind three tf.functions with fully dynamic shapes.

    The module tracks the networks' variables, not the Keras models themselves (the
    functions reach those through a closure): saving would otherwise trace each Keras
    model's own call, which the transformer's two inputs do not allow.
    """

    def __init__(self, model, *, tuned=False):
        super().__init__(name="arbitrary_style")
        self.model_variables = list(model.predictor.weights) + list(model.transformer.weights)
        self.backbone = tf.Variable(model.config.backbone, trainable=False, name="backbone")
        self.alpha = tf.Variable(model.config.alpha, trainable=False, name="alpha")
        predict_style = signatures.predict_function(model, output="style_vector")
        transfer = signatures.transfer_function(model, output="stylized")

        @tf.function(input_signature=[signatures.image_spec(), signatures.image_spec()])
        def stylize(content, style):
            return transfer(content, predict_style(style)["style_vector"])

        @tf.function(input_signature=[signatures.image_spec(), signatures.image_spec()])
        def serving_default(placeholder, placeholder_1):
            """`stylize` under the published module's names, for its TF Serving clients."""
            return {"output_0": stylize(placeholder, placeholder_1)["stylized"]}

        self.predict_style, self.transfer, self.stylize = predict_style, transfer, stylize
        self.serving_default = serving_default
        self.transfer_tuned = signatures.transfer_function(
            model, output="stylized",
            offsets=signatures.offsets_spec(model, "norm_offsets")) if tuned else None

    def signatures(self):
        named = {"serving_default": self.serving_default, "stylize": self.stylize,
                 "predict_style": self.predict_style, "transfer": self.transfer}
        if self.transfer_tuned is not None:
            named["transfer_tuned"] = self.transfer_tuned
        return named


class MagentaGraphsModule(tf.Module):
    """`predict_style` and `transfer` under the names and shapes of Magenta's published TF.js
    graphs (`export.tfjs --layout magenta`): inputs `Placeholder` and `Placeholder_1`, the
    style vector as [B, 1, 1, 100]; `specs` is `export.tfjs.MAGENTA_SPECS`."""

    def __init__(self, model, specs):
        super().__init__(name="arbitrary_style_magenta")
        self.model_variables = list(model.predictor.weights) + list(model.transformer.weights)
        (style_name,), (vector_name,) = (list(part) for part in specs["predict"])
        (content_name, given_name), (stylized_name,) = (list(part) for part in specs["transfer"])
        magenta_vector = (-1, 1, 1, STYLE_VECTOR_SIZE)
        self.predict_style = signatures.predict_function(
            model, signatures.image_spec(name=style_name), output=vector_name,
            vector_shape=magenta_vector)
        self.transfer = signatures.transfer_function(
            model, signatures.image_spec(name=content_name),
            signatures.vector_spec(name=given_name, shape=(None, *magenta_vector[1:])),
            output=stylized_name)


def export_magenta_graphs(model, output, specs):
    """Writes the SavedModel that `export.tfjs --layout magenta` converts."""
    module = MagentaGraphsModule(model, specs)
    return save_atomically(module, output, signatures={"predict_style": module.predict_style,
                                                       "transfer": module.transfer})


def save_atomically(module, output, *, signatures=None, overwrite=False):
    """tf.saved_model.save into a staging directory beside `output`, then renamed onto it."""
    output = pathlib.Path(output)
    if output.exists() and not overwrite and any(output.iterdir()):
        raise UserError(f"{output} exists and is not empty (use --overwrite to replace it)")
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic.atomic_directory(output) as staging:
        tf.saved_model.save(module, str(staging), signatures=signatures)
    return output


def export_saved_model(model, output, *, overwrite=False, tuned=False):
    """Writes `model` (a StyleModel) as a SavedModel with the signatures above
    (`transfer_tuned` too when `tuned`)."""
    module = StylizationModule(model, tuned=tuned)
    return save_atomically(module, output, signatures=module.signatures(), overwrite=overwrite)


def define_flags():
    common_flags.define("weights", "output")
    flags.DEFINE_bool("overwrite", False, "Replace an existing output directory.")


def command(export):
    """The absl main of an exporter `export(model, output, overwrite=...)` of one directory."""
    def main(argv):
        FLAGS = flags.FLAGS
        if not FLAGS.output:
            raise UserError("--output is required (see --help)")
        model = store.load_model(store.resolve_weights(FLAGS.weights))
        print(f"wrote {export(model, FLAGS.output, overwrite=FLAGS.overwrite)}")
        return 0
    return main


if __name__ == "__main__":
    define_flags()
    cli.run(command(export_saved_model))
