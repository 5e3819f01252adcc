"""Our networks with the imported Magenta weights against the float ONNX oracle graphs.

The oracle graphs (magenta_oracle.float_oracle: Magenta's int8 graphs without their
activation quantization) hold the same published weights and compute in float32 with
onnxruntime, independently of TensorFlow: agreement to float rounding proves the
architecture and the import exact.
"""

import numpy as np
import pytest

import magenta_oracle
from conftest import CONTENT_DIR, STYLE_DIR, image_paths, load_rgb

ORACLE_INPUT_VECTOR = magenta_oracle.VECTOR_INPUT


@pytest.fixture(scope="module")
def oracle_predict():
    return magenta_oracle.session(magenta_oracle.float_oracle("arbitrary_predict.onnx"))


@pytest.fixture(scope="module")
def oracle_transform():
    return magenta_oracle.session(magenta_oracle.float_oracle("arbitrary_transform.onnx"))


def cosine(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize("style_path", image_paths(STYLE_DIR), ids=lambda p: p.stem)
def test_style_vectors_match_oracle(imported_model, oracle_predict, style_path):
    style = load_rgb(style_path, 256)
    expected = oracle_predict.run(None, {"style_image": style[None]})[0].reshape(100)
    actual = imported_model.predict_style(style, size=None)
    assert cosine(actual, expected) >= 0.9999
    np.testing.assert_allclose(actual, expected, atol=1e-3 * np.abs(expected).max())


PAIRS = [("golden_gate_sq", "Camille_Mauclair"), ("colva_beach_sq", "Theo_van_Doesburg_sq"),
         ("statue_of_liberty_sq", "clouds-over-bor-1940_sq"), ("eiffel_tower", "pink_zigzag"),
         ("golden_gate_sq", "zigzag_colorful")]


@pytest.mark.parametrize("content_name,style_name", PAIRS)
def test_stylization_matches_oracle(imported_model, oracle_predict, oracle_transform,
                                    content_name, style_name):
    content = load_rgb(CONTENT_DIR / f"{content_name}.jpg", 384)
    style = load_rgb(STYLE_DIR / f"{style_name}.jpg", 256)
    vector = oracle_predict.run(None, {"style_image": style[None]})[0]
    expected = oracle_transform.run(None, {"content_image": content[None],
                                           ORACLE_INPUT_VECTOR: vector})[0][0]
    actual = imported_model.stylize(content, vector.reshape(100))
    assert actual.shape == expected.shape == (384, 384, 3)
    assert np.abs(actual - expected).mean() <= 1e-3
    # The comparison is meaningful: the stylization is far from the content.
    assert np.abs(expected - content).mean() > 0.05


def test_int8_graphs_are_close_but_not_the_oracle(imported_model):
    """The quantized originals are the peer, not the reference: close, not equal."""
    predict = magenta_oracle.session("arbitrary_predict.onnx")
    transform = magenta_oracle.session("arbitrary_transform.onnx")
    content = load_rgb(CONTENT_DIR / "golden_gate_sq.jpg", 384)
    style = load_rgb(STYLE_DIR / "Camille_Mauclair.jpg", 256)
    vector = predict.run(None, {"style_image": style[None]})[0]
    int8_output = transform.run(None, {"content_image": content[None],
                                       ORACLE_INPUT_VECTOR: vector})[0][0]
    ours = imported_model.stylize(content, vector.reshape(100))
    assert 1e-3 < np.abs(ours - int8_output).mean() < 0.1
