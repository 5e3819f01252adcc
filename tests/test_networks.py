"""Shapes, names and size handling of the two networks (random weights unless stated)."""

import numpy as np
import pytest
import tensorflow as tf

from arbitrary_style import layers
from arbitrary_style.model import MIN_CONTENT_SIDE, ModelConfig, StyleModel
from arbitrary_style.predictor import build_style_predictor
from arbitrary_style.transformer import StyleTransferNetwork

from conftest import CONTENT_DIR, load_rgb


@pytest.fixture(scope="module")
def transformer():
    network = StyleTransferNetwork(alpha=0.25)
    network(tf.zeros([1, 16, 16, 3]), tf.zeros([1, 100]))
    return network


def test_transformer_variables_carry_magenta_scopes(transformer):
    paths = {v.path: tuple(v.shape) for v in transformer.weights}
    assert paths["transformer/contract/conv1/kernel"] == (9, 9, 3, 8)
    assert paths["transformer/contract/conv3/BatchNorm/beta"] == (32,)
    assert paths["transformer/residual/residual3/conv2/kernel"] == (3, 3, 32, 32)
    assert paths["transformer/residual/residual3/conv2/StyleNorm/Conv/kernel"] == (100, 32)
    assert paths["transformer/expand/conv3/conv/StyleNorm/Conv_1/bias"] == (3,)
    # 13 conditional instance norms, each with a beta and a gamma head.
    assert sum(p.endswith("StyleNorm/Conv/kernel") for p in paths) == 13
    assert sum(p.endswith("StyleNorm/Conv_1/kernel") for p in paths) == 13


@pytest.mark.parametrize("alpha,widths", [(1.0, (32, 64, 128)), (0.5, (16, 32, 64))])
def test_alpha_sets_the_widths(alpha, widths):
    network = StyleTransferNetwork(alpha=alpha)
    network(tf.zeros([1, 16, 16, 3]), tf.zeros([1, 100]))
    kernels = {v.path: v.shape[-1] for v in network.weights if v.path.endswith("kernel")}
    assert [kernels[f"transformer/contract/conv{i}/kernel"] for i in (1, 2, 3)] == list(widths)
    assert kernels["transformer/expand/conv1/conv/kernel"] == widths[1]


@pytest.mark.parametrize("height,width", [(16, 16), (37, 50), (101, 64), (255, 258)])
def test_any_content_size_returns_that_size(transformer, height, width):
    content = tf.random.uniform([2, height, width, 3], seed=1)
    output = transformer(content, tf.random.normal([2, 100], seed=2))
    assert output.shape == (2, height, width, 3)
    assert np.all((output.numpy() >= 0) & (output.numpy() <= 1))


@pytest.mark.parametrize("kernel_size,channels,filters,block", [
    (9, 8, 3, 4), (9, 8, 3, 2), (3, 5, 7, 2), (5, 3, 4, 4)])
def test_blocked_conv_equals_the_direct_conv(kernel_size, channels, filters, block):
    blocks = kernel_size // block
    inputs = tf.random.normal([2, block * (blocks + 3), block * (blocks + 2), channels], seed=3)
    kernel = tf.random.normal([kernel_size, kernel_size, channels, filters], seed=4)
    direct = tf.nn.conv2d(inputs, kernel, 1, "VALID")
    blocked = layers.blocked_conv2d(inputs, kernel, block)
    assert blocked.shape == direct.shape
    np.testing.assert_allclose(blocked, direct, atol=1e-4, rtol=1e-5)


def test_depth_to_space_as_transposed_conv_is_exact():
    inputs = tf.random.normal([2, 5, 7, 4 * 16], seed=5)
    for block in (2, 4):
        np.testing.assert_array_equal(layers.depth_to_space(inputs, block),
                                      tf.nn.depth_to_space(inputs, block))


def test_blocked_output_conv_keeps_the_network(imported_model):
    content = tf.random.uniform([1, 36, 52, 3], seed=6)
    vector = tf.random.normal([1, 100], seed=7)
    network = imported_model.transformer

    def graph_ops():
        graph = tf.function(network).get_concrete_function(content, vector).graph
        return {op.type for op in graph.get_operations()}

    plain = network(content, vector)
    with network.blocked_output_conv():
        blocked = network(content, vector)
        assert "SpaceToDepth" in graph_ops()
    assert "SpaceToDepth" not in graph_ops()
    np.testing.assert_allclose(blocked, plain, atol=1e-5)


def test_multiples_of_four_are_computed_without_padding(imported_model):
    """Cropping a non-multiple-of-4 result equals Magenta's computation on the padded input."""
    content = load_rgb(CONTENT_DIR / "golden_gate_sq.jpg")[:254, :251]
    vector = imported_model.predict_style(load_rgb(CONTENT_DIR / "eiffel_tower.jpg"))
    padded = tf.pad(content[None], [[0, 0], [0, 2], [0, 1], [0, 0]], mode="REFLECT").numpy()
    full = imported_model.stylize(padded[0], vector)
    cropped = imported_model.stylize(content, vector)
    np.testing.assert_allclose(cropped, full[:254, :251], atol=1e-5)


def test_batch_equals_single_images(imported_model):
    contents = np.stack([load_rgb(p, 64) for p in sorted(CONTENT_DIR.glob("*.jpg"))[:2]])
    vectors = imported_model.predict_style(contents)
    batched = imported_model.stylize(contents, vectors)
    for i in range(2):
        np.testing.assert_allclose(batched[i], imported_model.stylize(contents[i], vectors[i]),
                                   atol=1e-5)
        np.testing.assert_allclose(vectors[i], imported_model.predict_style(contents[i]),
                                   rtol=1e-4, atol=1e-5)


def test_too_small_content_is_rejected(imported_model):
    with pytest.raises(ValueError, match=f"at least {MIN_CONTENT_SIDE}"):
        imported_model.stylize(np.zeros((8, 40, 3), np.float32), np.zeros(100, np.float32))


def test_mobilenet_predictor_names_and_any_size():
    predictor = build_style_predictor("mobilenet_v2")
    names = {v.path for v in predictor.weights}
    assert "MobilenetV2/expanded_conv_5/depthwise/kernel" in names
    assert "MobilenetV2/expanded_conv/project/BatchNorm/gamma" in names
    assert "mobilenet_conv/Conv/kernel" in names
    assert not any(n.startswith("MobilenetV2/expanded_conv/expand") for n in names)
    for size in [(64, 64), (97, 131)]:
        assert predictor(tf.zeros([2, *size, 3])).shape == (2, 100)


def test_inception_predictor_is_slim_inception_v3_to_mixed_6e():
    predictor = build_style_predictor("inception_v3")
    names = {v.path: tuple(v.shape) for v in predictor.weights}
    assert names["InceptionV3/Mixed_5c/Branch_1/Conv_1_0c_5x5/kernel"] == (5, 5, 48, 64)
    assert names["InceptionV3/Mixed_6a/Branch_0/Conv2d_1a_1x1/kernel"] == (3, 3, 288, 384)
    assert names["InceptionV3/Mixed_6e/Branch_2/Conv2d_0e_1x7/kernel"] == (1, 7, 192, 192)
    assert names["Conv/kernel"] == (768, 100)
    assert not any("Mixed_7" in n for n in names)
    # Slim's inception BatchNorm has no scale (gamma).
    assert not any(n.endswith("BatchNorm/gamma") for n in names)
    features = predictor.get_layer("InceptionV3")(tf.zeros([1, 256, 256, 3]))
    assert features.shape == (1, 14, 14, 768)
    assert predictor(tf.zeros([1, 300, 257, 3])).shape == (1, 100)


def test_style_model_config_is_validated():
    with pytest.raises(ValueError, match="backbone"):
        ModelConfig(backbone="resnet")
    with pytest.raises(ValueError, match="alpha"):
        ModelConfig(alpha=0)
    model = StyleModel(ModelConfig("inception_v3", 0.25))
    assert model.predict_style(np.zeros((80, 90, 3), np.float32), size=None).shape == (100,)


def test_backbone_names_match_the_builders():
    from arbitrary_style.backbones import BACKBONES
    from arbitrary_style.model_config import BACKBONE_NAMES

    assert sorted(BACKBONES) == sorted(BACKBONE_NAMES)
