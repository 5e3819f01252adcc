"""TensorFlow Lite model metadata (the `TFLITE_METADATA` buffer) for the exported models.

What tflite-support's MetadataPopulator writes, for Android Studio's ML Model Binding and the
TFLite Support library: a `ModelMetadata` flatbuffer (schema `tflite_support_schema/
metadata_schema.fbs`, identifier "M001") stored as one of the model's buffers and named by a
`Metadata` entry "TFLITE_METADATA". tflite-support itself cannot be installed beside
TensorFlow 2.21 (protobuf), so this uses its vendored, flatc-generated schema module and
TensorFlow's own model schema (`tensorflow.lite.tools.flatbuffer_utils`). No associated files
(no labels), so nothing is zipped onto the file.

Images are float32 RGB in [0, 1]: each input image says NormalizationOptions mean 0, std 255
(pixels in 0..255 -> [0, 1]) and Stats min 0, max 1; the style vector is a plain feature.
"""

import flatbuffers
from tensorflow.lite.python import schema_py_generated as model_fb
from tensorflow.lite.tools import flatbuffer_utils

from export.tflite_support_schema import metadata_schema_py_generated as metadata_fb

METADATA_NAME = "TFLITE_METADATA"
METADATA_IDENTIFIER = b"M001"
MIN_PARSER_VERSION = "1.0.0"  # Every field written here exists since schema 1.0.0.
PIXEL_MEAN, PIXEL_STD = 0.0, 255.0


def _tensor(name, description, *, image):
    """TensorMetadataT for an RGB image in [0, 1] or (image=False) a feature vector."""
    tensor = metadata_fb.TensorMetadataT()
    tensor.name, tensor.description = name, description
    tensor.content = metadata_fb.ContentT()
    if image:
        tensor.content.contentPropertiesType = metadata_fb.ContentProperties.ImageProperties
        tensor.content.contentProperties = metadata_fb.ImagePropertiesT()
        tensor.content.contentProperties.colorSpace = metadata_fb.ColorSpaceType.RGB
        tensor.stats = metadata_fb.StatsT()
        tensor.stats.min, tensor.stats.max = [0.0], [1.0]
    else:
        tensor.content.contentPropertiesType = metadata_fb.ContentProperties.FeatureProperties
        tensor.content.contentProperties = metadata_fb.FeaturePropertiesT()
    return tensor


def _with_normalization(tensor):
    unit = metadata_fb.ProcessUnitT()
    unit.optionsType = metadata_fb.ProcessUnitOptions.NormalizationOptions
    unit.options = metadata_fb.NormalizationOptionsT()
    unit.options.mean, unit.options.std = [PIXEL_MEAN], [PIXEL_STD]
    tensor.processUnits = [unit]
    return tensor


def model_metadata(name, description, inputs, outputs, *, version, author):
    """The ModelMetadata flatbuffer bytes.

    `inputs`/`outputs`: [(tensor name, description, is_image)] in the subgraph's order; input
    images get the [0, 255] -> [0, 1] normalization.
    """
    subgraph = metadata_fb.SubGraphMetadataT()
    subgraph.name = name
    subgraph.inputTensorMetadata = [
        _with_normalization(_tensor(n, d, image=True)) if image else _tensor(n, d, image=False)
        for n, d, image in inputs]
    subgraph.outputTensorMetadata = [_tensor(n, d, image=image) for n, d, image in outputs]
    metadata = metadata_fb.ModelMetadataT()
    metadata.name, metadata.description, metadata.version = name, description, version
    metadata.author = author
    metadata.subgraphMetadata = [subgraph]
    metadata.minParserVersion = MIN_PARSER_VERSION
    builder = flatbuffers.Builder(1024)
    builder.Finish(metadata.Pack(builder), file_identifier=METADATA_IDENTIFIER)
    return bytes(builder.Output())


def signature_order(tflite_bytes):
    """({input name: subgraph input position}, {output name: position}) of the model's one
    signature (the names its SignatureDef gives the subgraph's input and output tensors)."""
    model = model_fb.Model.GetRootAs(tflite_bytes, 0)
    (signature,) = [model.SignatureDefs(i) for i in range(model.SignatureDefsLength())]
    subgraph = model.Subgraphs(signature.SubgraphIndex())
    positions = []
    for tensors, length, indices in (
            (signature.Inputs, signature.InputsLength(), subgraph.InputsAsNumpy()),
            (signature.Outputs, signature.OutputsLength(), subgraph.OutputsAsNumpy())):
        order = {int(index): position for position, index in enumerate(indices)}
        positions.append({tensors(i).Name().decode(): order[tensors(i).TensorIndex()]
                          for i in range(length)})
    return tuple(positions)


def attach(tflite_bytes, metadata_bytes):
    """The model with `metadata_bytes` as its TFLITE_METADATA buffer (replacing any)."""
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(tflite_bytes))
    buffer = model_fb.BufferT()
    buffer.data = list(metadata_bytes)
    model.metadata = model.metadata or []
    existing = [entry for entry in model.metadata if entry.name.decode() == METADATA_NAME]
    if existing:
        model.buffers[existing[0].buffer] = buffer
    else:
        model.buffers.append(buffer)
        entry = model_fb.MetadataT()
        entry.name, entry.buffer = METADATA_NAME, len(model.buffers) - 1
        model.metadata.append(entry)
    return flatbuffer_utils.convert_object_to_bytearray(model)

