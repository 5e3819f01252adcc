"""Export a TF-Hub module used exactly like `magenta/arbitrary-image-stylization-v1-256`.

  python -m export.hub --weights magenta-mobile --output exported/hub_module

  module = hub.load("exported/hub_module")
  stylized = module(tf.constant(content), tf.constant(style))[0]
  layer = hub.KerasLayer("exported/hub_module")        # in a tf_keras model:
  stylized = layer([content, style])[0]

Content and style are float32 [B, H, W, 3] in [0, 1]; like Magenta's module, the style
image is used at the size given (resize it to 256 px, as the networks were trained).
The module is a SavedModel, so it also has all the signatures of `export.saved_model`;
its `serving_default` uses the published module's names (`placeholder`, `placeholder_1`
-> `output_0`), as TF Serving clients of that module expect.
"""

import tensorflow as tf

from arbitrary_style import cli, signatures
from export.saved_model import StylizationModule, command, define_flags, save_atomically


class HubModule(StylizationModule):
    """Adds Magenta's `module(content, style) -> [stylized]` calling convention."""

    def __init__(self, model):
        super().__init__(model)
        stylize = self.stylize

        @tf.function
        def call(content, style=None):
            if style is None:  # hub.KerasLayer passes its inputs as one list.
                content, style = content
            return [stylize(content, style)["stylized"]]

        images = signatures.image_spec()
        call.get_concrete_function(images, images)
        call.get_concrete_function([images, images])
        self.__call__ = call


def export_hub_module(model, output, *, overwrite=False):
    """Writes `model` (a StyleModel) as a TF-Hub compatible SavedModel."""
    module = HubModule(model)
    return save_atomically(module, output, signatures=module.signatures(), overwrite=overwrite)


if __name__ == "__main__":
    define_flags()
    cli.run(command(export_hub_module))
