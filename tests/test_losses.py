"""The VGG loss (Magenta's formulas and defaults), on randomly initialised VGGs: nothing is
downloaded."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from arbitrary_style.errors import UserError
from arbitrary_style.losses import (
    GATYS_STYLE_WEIGHT,
    VGG19_MEAN_ACTIVATIONS,
    LossConfig,
    StyleLoss,
    build_feature_extractor,
    gram_matrix,
    layer_names,
    parse_layer_weights,
    total_variation,
)

VGG16_LAYERS = [f"vgg_16/conv{i}" for i in range(1, 6)]
# Unit style weights: with random VGG weights the Grams are small, 0.5e-3 would hide them.
UNIT_CONFIG = LossConfig(content_weights={"vgg_16/conv3": 1.0},
                         style_weights={f"vgg_16/conv{i}": 1.0 for i in range(1, 5)},
                         total_variation_weight=1.0)


def smooth_images(seed, batch, height, width):
    """Smooth random [0, 1] images: bicubically upsampled noise."""
    noise = np.random.default_rng(seed).random((batch, 4, 4, 3), np.float32)
    return np.clip(tf.image.resize(noise, (height, width), "bicubic").numpy(), 0, 1)


@pytest.fixture(scope="module")
def unit_loss():
    keras.utils.set_random_seed(0)
    return StyleLoss(UNIT_CONFIG, weights=None)


def test_defaults_match_design():
    config = LossConfig()
    assert config.network == "vgg16"
    assert config.content_weights == {"vgg_16/conv3": 1.0}
    assert config.style_weights == {f"vgg_16/conv{i}": 0.5e-3 for i in range(1, 5)}
    assert config.total_variation_weight == 1e4
    vgg19 = LossConfig(network="vgg19")  # Gatys et al.'s layers
    assert vgg19.content_weights == {"vgg_19/conv4_2": 1.0}
    assert list(vgg19.style_weights) == [f"vgg_19/conv{i}_1" for i in range(1, 6)]
    # Weighted alike once each layer's activations are rescaled to mean 1 (as Gatys's VGG).
    rescaled = [weight * VGG19_MEAN_ACTIVATIONS[layer] ** 4
                / VGG19_MEAN_ACTIVATIONS["vgg_19/conv4_2"] ** 2
                for layer, weight in vgg19.style_weights.items()]
    np.testing.assert_allclose(rescaled, GATYS_STYLE_WEIGHT, rtol=1e-12)


def test_config_rejects_bad_choices():
    with pytest.raises(ValueError, match="unknown loss network 'vgg17'"):
        LossConfig(network="vgg17")
    with pytest.raises(ValueError, match="unknown loss layer 'vgg_16/conv3' for vgg19"):
        LossConfig(network="vgg19", content_weights={"vgg_16/conv3": 1.0})
    with pytest.raises(ValueError, match="must be a number >= 0"):
        LossConfig(style_weights={"vgg_16/conv1": -1.0})
    with pytest.raises(ValueError, match="total_variation_weight"):
        LossConfig(total_variation_weight=float("nan"))


@pytest.mark.parametrize("network, expected", [
    ("vgg16", ["block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3"]),
    ("vgg19", ["block1_conv2", "block2_conv2", "block3_conv4", "block4_conv4", "block5_conv4"]),
])
def test_magenta_names_are_the_last_conv_of_each_block(network, expected):
    scope = "vgg_16" if network == "vgg16" else "vgg_19"
    magenta = [f"{scope}/conv{i}" for i in range(1, 6)]
    assert {name: layer_names(network)[name] for name in magenta} == dict(
        zip(magenta, expected, strict=True))
    for name, keras_name in zip(magenta, expected, strict=True):
        extractor = build_feature_extractor(network, [name], weights=None)
        assert extractor.layers[-1].name == keras_name  # the graph ends at that layer


def test_every_conv_has_a_name_as_gatys_numbers_them():
    names = layer_names("vgg19")
    assert len(names) == 5 + 16
    assert names["vgg_19/conv4_2"] == "block4_conv2"
    assert names["vgg_19/conv5_1"] == "block5_conv1"
    assert names["vgg_19/conv3_4"] == names["vgg_19/conv3"] == "block3_conv4"
    assert "vgg_19/conv1_3" not in names and "vgg_16/conv3_3" in layer_names("vgg16")
    extractor = build_feature_extractor("vgg19", ["vgg_19/conv4_2"], weights=None)
    assert extractor.layers[-1].name == "block4_conv2"


@pytest.mark.parametrize("network", ["vgg16", "vgg19"])
def test_feature_shapes(network):
    scope = "vgg_16" if network == "vgg16" else "vgg_19"
    layers = {f"{scope}/conv{i}": 1.0 for i in range(1, 6)}
    loss = StyleLoss(LossConfig(network, content_weights={}, style_weights=layers), weights=None)
    features = loss.features(smooth_images(0, 2, 64, 48))
    assert {name: tuple(f.shape) for name, f in features.items()} == {
        f"{scope}/conv1": (2, 64, 48, 64), f"{scope}/conv2": (2, 32, 24, 128),
        f"{scope}/conv3": (2, 16, 12, 256), f"{scope}/conv4": (2, 8, 6, 512),
        f"{scope}/conv5": (2, 4, 3, 512)}


def test_only_used_layers_are_built_and_nothing_is_trainable(unit_loss):
    assert set(unit_loss.features(smooth_images(0, 1, 32, 32))) == set(VGG16_LAYERS[:4])
    assert unit_loss.extractor.layers[-1].name == "block4_conv3"  # no block5 computed
    assert unit_loss.extractor.trainable_weights == []
    assert unit_loss.extractor.non_trainable_weights


def test_images_get_the_caffe_preprocessing_of_keras_applications(unit_loss):
    images = smooth_images(1, 2, 32, 40)
    bgr_minus_mean = images[..., ::-1] * 255.0 - np.array([103.939, 116.779, 123.68], np.float32)
    expected = unit_loss.extractor(bgr_minus_mean)
    for name, features in unit_loss.features(images).items():
        np.testing.assert_allclose(features, expected[name], rtol=1e-4, atol=1e-3)


def numpy_gram(features):
    """Magenta's gram_matrix in float64: F^T F / (H*W), F the [B, H*W, C] features."""
    batch, height, width, channels = features.shape
    flat = np.asarray(features, np.float64).reshape(batch, height * width, channels)
    return np.einsum("bnc,bnd->bcd", flat, flat) / (height * width)


def numpy_total_variation(images):
    """Magenta's total_variation_loss in float64 (tf.nn.l2_loss(x) = sum(x^2) / 2)."""
    images = np.asarray(images, np.float64)
    batch, height, width, channels = images.shape
    dy = np.sum(np.square(images[:, 1:] - images[:, :-1])) / 2 / ((height - 1) * width * channels)
    dx = np.sum(np.square(images[:, :, 1:] - images[:, :, :-1])) / 2 / (height * (width - 1)
                                                                        * channels)
    return (dy + dx) / batch


def test_gram_matrix_matches_numpy():
    features = np.random.default_rng(2).normal(size=(2, 3, 5, 4)).astype(np.float32)
    np.testing.assert_allclose(gram_matrix(tf.constant(features)), numpy_gram(features),
                               rtol=1e-5)
    single = np.array([[[[1.0, 2.0]], [[3.0, 0.0]]]], np.float32)  # 1x2x1x2: H*W = 2
    np.testing.assert_allclose(gram_matrix(single)[0], [[10 / 2, 2 / 2], [2 / 2, 4 / 2]])


def test_each_term_matches_numpy_with_magentas_default_weights():
    """Every part of the loss, with LossConfig()'s weights, against the formulas in numpy on
    the (random-VGG) features of random images; the styles have another size than the
    content, and each stylized image has its own style."""
    keras.utils.set_random_seed(4)
    loss = StyleLoss(LossConfig(), weights=None)
    rng = np.random.default_rng(20)
    stylized, content = (rng.random((2, 40, 48, 3), np.float32) for _ in range(2))
    style = rng.random((2, 56, 32, 3), np.float32)
    _, parts = loss(stylized, content, style)
    features = {name: {layer: np.asarray(value, np.float64)
                       for layer, value in loss.features(images).items()}
                for name, images in (("stylized", stylized), ("content", content),
                                     ("style", style))}
    expected = {"content/vgg_16/conv3": np.mean(np.square(
        features["stylized"]["vgg_16/conv3"] - features["content"]["vgg_16/conv3"]))}
    for layer in VGG16_LAYERS[:4]:
        expected[f"style/{layer}"] = 0.5e-3 * np.mean(np.square(
            numpy_gram(features["stylized"][layer]) - numpy_gram(features["style"][layer])))
    expected["content"] = expected["content/vgg_16/conv3"]
    expected["style"] = sum(expected[f"style/{layer}"] for layer in VGG16_LAYERS[:4])
    expected["total_variation"] = 1e4 * numpy_total_variation(stylized)
    expected["total"] = expected["content"] + expected["style"] + expected["total_variation"]
    assert parts.keys() == expected.keys()
    for name, value in expected.items():
        assert value > 0, name
        np.testing.assert_allclose(float(parts[name]), value, rtol=1e-4, err_msg=name)


def test_total_variation_matches_numpy():
    images = np.random.default_rng(3).random((2, 5, 7, 3)).astype(np.float32)
    np.testing.assert_allclose(total_variation(images), numpy_total_variation(images), rtol=1e-5)
    assert float(total_variation(np.full((1, 8, 8, 3), 0.3, np.float32))) == 0.0
    # One vertical step of 1 in one channel of a 2x2x1 image: l2_loss 2 * 0.5 over 1 * 2 * 1.
    step = np.array([[[[0.0], [0.0]], [[1.0], [1.0]]]], np.float32)
    np.testing.assert_allclose(total_variation(step), 0.5)


def test_loss_is_zero_against_own_targets_and_positive_otherwise(unit_loss):
    content, style = smooth_images(4, 2, 48, 48), smooth_images(5, 2, 48, 48)
    _, own = unit_loss(content, content, content)
    assert abs(float(own["content"])) < 1e-6 and abs(float(own["style"])) < 1e-6
    np.testing.assert_allclose(own["total"], own["total_variation"], rtol=1e-6)
    np.testing.assert_allclose(own["total_variation"], total_variation(content), rtol=1e-6)

    total, parts = unit_loss(style, content, content)
    assert set(parts) == {"content", "style", "total_variation", "total",
                          "content/vgg_16/conv3", *(f"style/{name}" for name in VGG16_LAYERS[:4])}
    assert all(parts[f"style/{name}"] > 0 for name in VGG16_LAYERS[:4])
    assert parts["content"] > 0
    np.testing.assert_allclose(parts["style"], sum(parts[f"style/{n}"] for n in VGG16_LAYERS[:4]),
                               rtol=1e-5)
    np.testing.assert_allclose(total, parts["content"] + parts["style"] + parts["total_variation"],
                               rtol=1e-5)
    assert all(np.shape(value) == () for value in parts.values())


def test_per_example_style_targets(unit_loss):
    content, styles = smooth_images(6, 2, 32, 32), smooth_images(7, 2, 48, 40)
    targets = unit_loss.targets(content, styles)
    assert targets["style"]["vgg_16/conv2"].shape == (2, 128, 128)
    # Each stylized image is judged against its own style: swapping the pair costs style loss.
    _, matched = unit_loss.loss(content, unit_loss.targets(content, content))
    _, swapped = unit_loss.loss(content, unit_loss.targets(content, content[::-1]))
    assert float(matched["style"]) < 1e-6 < float(swapped["style"])
    # A batch of one style applies to every content image.
    _, parts = unit_loss.loss(content[[1, 1]], unit_loss.targets(content, content[1:]))
    assert float(parts["style"]) < 1e-6 < float(parts["content"])


def test_style_blend_is_the_weighted_mean_of_grams(unit_loss):
    content = smooth_images(8, 1, 32, 32)
    first, second = smooth_images(9, 1, 40, 56)[0], smooth_images(10, 1, 64, 32)
    blended = unit_loss.targets(content, [first, second], style_blend=[3, 1])["style"]
    g1 = unit_loss.targets(content, first[None])["style"]
    g2 = unit_loss.targets(content, second)["style"]
    for name in VGG16_LAYERS[:4]:
        assert blended[name].shape == g1[name].shape
        np.testing.assert_allclose(blended[name], 0.75 * g1[name] + 0.25 * g2[name],
                                   rtol=1e-5, atol=1e-7 * float(tf.reduce_max(g1[name])))
        assert not np.allclose(g1[name], g2[name])
    for bad in ([1], [1, 0], [1, -1]):
        with pytest.raises(ValueError, match="style_blend"):
            unit_loss.targets(content, [first, second], style_blend=bad)


def test_loss_needs_style_targets_when_style_is_weighted(unit_loss):
    content = smooth_images(11, 1, 32, 32)
    with pytest.raises(ValueError, match="no style"):
        unit_loss.loss(content, unit_loss.targets(content))


def test_gradients_reach_the_image_under_default_weights():
    keras.utils.set_random_seed(1)
    loss = StyleLoss(weights=None)
    content, style = smooth_images(12, 2, 32, 32), smooth_images(13, 2, 32, 32)
    image = tf.Variable(smooth_images(14, 2, 32, 32))
    with tf.GradientTape(persistent=True) as tape:
        total, parts = loss(image, content, style)
    for name in ("total", "content", "style"):
        gradient = tape.gradient(parts[name], image)
        assert np.all(np.isfinite(gradient)) and np.any(gradient != 0), name
    assert tape.gradient(total, loss.extractor.trainable_weights) == []


@pytest.mark.parametrize("config", [
    LossConfig(style_weights={}, total_variation_weight=0.0),
    LossConfig(content_weights={}, style_weights={n: 1.0 for n in VGG16_LAYERS[:4]},
               total_variation_weight=0.0),
], ids=["content", "style"])
def test_adam_on_the_image_lowers_the_loss_in_tf_function(config):
    """The real training signal: gradients through VGG only (no total variation term)."""
    keras.utils.set_random_seed(2)
    loss = StyleLoss(config, weights=None)
    targets = loss.targets(smooth_images(15, 1, 32, 32), smooth_images(16, 1, 48, 48))
    image = tf.Variable(smooth_images(17, 1, 32, 32))
    optimizer = keras.optimizers.Adam(0.01)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            total, _ = loss.loss(image, targets)
        optimizer.apply_gradients([(tape.gradient(total, image), image)])
        return total

    losses = [float(step()) for _ in range(8)]
    assert losses[-1] < 0.8 * losses[0], losses


def test_parse_layer_weights_accepts_good_specs():
    assert parse_layer_weights("vgg_16/conv3:1,vgg_16/conv4:0.5") == {
        "vgg_16/conv3": 1.0, "vgg_16/conv4": 0.5}
    assert parse_layer_weights(" vgg_16/conv1 : 5e-4 ") == {"vgg_16/conv1": 5e-4}
    assert parse_layer_weights("vgg_19/conv5:0", "vgg19") == {"vgg_19/conv5": 0.0}


@pytest.mark.parametrize("spec, message", [
    ("vgg_16/conv3", "expected LAYER:WEIGHT"), ("vgg_16/conv3:x", "expected LAYER:WEIGHT"),
    (":1", "expected LAYER:WEIGHT"), ("", "expected LAYER:WEIGHT"),
    ("vgg_16/conv3:1,", "expected LAYER:WEIGHT"), ("vgg_16/conv9:1", "unknown loss layer"),
    ("vgg_19/conv3:1", "unknown loss layer"), ("vgg_16/conv3:-1", ">= 0"),
    ("vgg_16/conv3:inf", ">= 0"), ("vgg_16/conv3:1,vgg_16/conv3:2", "twice"),
])
def test_parse_layer_weights_rejects_bad_specs(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_layer_weights(spec)


def test_missing_weights_file_is_a_clear_error(tmp_path):
    missing = tmp_path / "vgg16_notop.h5"
    with pytest.raises(UserError, match=f"vgg16 weights file not found: {missing}"):
        StyleLoss(weights=missing)
    garbage = tmp_path / "garbage.weights.h5"
    garbage.write_text("not weights")
    with pytest.raises(UserError, match="cannot load vgg16 weights from"):
        StyleLoss(weights=str(garbage))


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # Keras saving
def test_local_weights_file_is_loaded(tmp_path):
    keras.utils.set_random_seed(3)
    vgg = keras.applications.VGG16(include_top=False, weights=None)
    path = tmp_path / "vgg16.weights.h5"
    vgg.save_weights(path)
    config = LossConfig(content_weights={"vgg_16/conv5": 1.0}, style_weights={})
    images = smooth_images(18, 1, 32, 32)
    features = StyleLoss(config, weights=path).features(images)["vgg_16/conv5"]
    reference = keras.Model(vgg.input, vgg.get_layer("block5_conv3").output)
    expected = reference(keras.applications.vgg16.preprocess_input(images * 255.0))
    np.testing.assert_allclose(features, expected, rtol=1e-4, atol=1e-4)
    random_init = StyleLoss(config, weights=None).features(images)["vgg_16/conv5"]
    assert not np.allclose(features, random_init)
