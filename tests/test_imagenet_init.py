"""Initialising the style predictor's backbone from keras.applications, offline.

The Keras models are built with `weights=None` and their BatchNorm parameters and
statistics randomised, so agreeing outputs mean every tensor went to the right place.
"""

import collections

import keras
import numpy as np
import pytest

from arbitrary_style.errors import UserError
from arbitrary_style.predictor import build_style_predictor
from arbitrary_style.weights.imagenet import load_imagenet_backbone

RNG = np.random.default_rng(0)


def randomised(keras_model):
    """Gives every BatchNorm random gamma, beta, mean and variance (not 1, 0, 0, 1)."""
    draws = {"gamma": lambda n: RNG.uniform(0.5, 1.5, n), "beta": lambda n: RNG.normal(0, 0.2, n),
             "moving_mean": lambda n: RNG.normal(0, 0.2, n),
             "moving_variance": lambda n: RNG.uniform(0.5, 2.0, n)}
    for layer in keras_model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            for variable in layer.weights:
                variable.assign(draws[variable.name](variable.shape).astype(np.float32))
    return keras_model


@pytest.fixture(scope="module")
def keras_mobilenet():
    return randomised(keras.applications.MobileNetV2(
        alpha=1.0, include_top=False, weights=None, input_shape=(224, 224, 3)))


@pytest.fixture(scope="module")
def keras_inception():
    return randomised(keras.applications.InceptionV3(
        include_top=False, weights=None, input_shape=(150, 150, 3)))


def fingerprints(variables):
    """A multiset of variable values, to compare which values two sets of variables hold."""
    return collections.Counter((tuple(v.shape), v.numpy().tobytes()) for v in variables)


def head_values(predictor):
    return [v.numpy() for v in predictor.weights if not v.path.startswith(("Mobilenet",
                                                                             "Inception"))]


def test_mobilenet_v2_matches_keras(keras_mobilenet):
    predictor = build_style_predictor("mobilenet_v2")
    head_before = head_values(predictor)

    summary = load_imagenet_backbone(predictor, "mobilenet_v2", weights=keras_mobilenet)

    assert summary.startswith("copied 260 tensors")
    ours = predictor.get_layer("MobilenetV2")
    assert fingerprints(ours.weights) == fingerprints(keras_mobilenet.weights)
    for before, after in zip(head_before, head_values(predictor), strict=True):
        np.testing.assert_array_equal(before, after)
    image = RNG.uniform(0, 1, (2, 224, 224, 3)).astype(np.float32)
    expected = keras_mobilenet(image, training=False).numpy()
    assert keras_mobilenet.output.name == keras_mobilenet.get_layer("out_relu").output.name
    np.testing.assert_allclose(ours(image, training=False).numpy(), expected, atol=1e-4)


def test_inception_v3_matches_keras_to_mixed7(keras_inception):
    predictor = build_style_predictor("inception_v3")
    head_before = head_values(predictor)

    summary = load_imagenet_backbone(predictor, "inception_v3", weights=keras_inception)

    assert summary.startswith("copied 280 tensors")
    ours = predictor.get_layer("InceptionV3")
    assert not fingerprints(ours.weights) - fingerprints(keras_inception.weights)
    for before, after in zip(head_before, head_values(predictor), strict=True):
        np.testing.assert_array_equal(before, after)
    # Keras uses ReLU, slim ReLU6: they agree while every activation stays below 6.
    activations = [layer.output for layer in keras_inception.layers
                   if isinstance(layer, keras.layers.Activation)]
    probe = keras.Model(keras_inception.input,
                        [keras_inception.get_layer("mixed7").output, activations])
    image = RNG.uniform(0, 0.5, (2, 150, 150, 3)).astype(np.float32)
    expected, activation_values = probe(image, training=False)
    assert max(float(np.max(a)) for a in activation_values) < 6
    np.testing.assert_allclose(ours(image, training=False).numpy(), expected.numpy(), atol=1e-4)


def test_weights_file_round_trip(keras_mobilenet, tmp_path):
    path = tmp_path / "mobilenet_v2.weights.h5"
    keras_mobilenet.save_weights(path)
    predictor = build_style_predictor("mobilenet_v2")

    load_imagenet_backbone(predictor, "mobilenet_v2", weights=path)

    ours = predictor.get_layer("MobilenetV2")
    assert fingerprints(ours.weights) == fingerprints(keras_mobilenet.weights)


def test_mismatched_keras_model_is_refused_and_changes_nothing(keras_inception):
    predictor = build_style_predictor("mobilenet_v2")
    before = [v.numpy() for v in predictor.weights]
    narrow = keras.applications.MobileNetV2(alpha=0.5, include_top=False, weights=None,
                                            input_shape=(224, 224, 3))

    with pytest.raises(UserError, match=r"has shape .* expects"):
        load_imagenet_backbone(predictor, "mobilenet_v2", weights=narrow)
    with pytest.raises(UserError, match="no place in MobilenetV2"):
        load_imagenet_backbone(predictor, "mobilenet_v2", weights=keras_inception)
    with pytest.raises(UserError, match="no 'InceptionV3' layer"):
        load_imagenet_backbone(predictor, "inception_v3", weights=keras_inception)
    for old, variable in zip(before, predictor.weights, strict=True):
        np.testing.assert_array_equal(old, variable.numpy())


def test_unknown_backbone_and_unreadable_files(tmp_path):
    predictor = build_style_predictor("mobilenet_v2")
    with pytest.raises(UserError, match="unknown backbone 'resnet'"):
        load_imagenet_backbone(predictor, "resnet")
    with pytest.raises(UserError, match="does not exist"):
        load_imagenet_backbone(predictor, "mobilenet_v2", weights=tmp_path / "missing.h5")
    for name in ("garbage.weights.h5", "garbage.keras"):
        (tmp_path / name).write_bytes(b"not a weights file")
        with pytest.raises(UserError, match=f"cannot load .*{name}"):
            load_imagenet_backbone(predictor, "mobilenet_v2", weights=tmp_path / name)
