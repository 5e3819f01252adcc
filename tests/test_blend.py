"""Style blending and strength, as DESIGN.md defines them."""

import numpy as np
import pytest

from arbitrary_style.image_io import transfer_luminance
from arbitrary_style.style_vectors import apply_strength, blend_style_vectors

from conftest import CONTENT_DIR, STYLE_DIR, load_rgb

RNG = np.random.default_rng(0)
V1, V2, V3 = RNG.normal(size=(3, 100)).astype(np.float32)


def test_blend_is_the_normalised_weighted_mean():
    np.testing.assert_allclose(blend_style_vectors([V1, V2], [7, 3]), 0.7 * V1 + 0.3 * V2,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(blend_style_vectors([V1, V2], [7, 3]),
                               blend_style_vectors([V1, V2], [0.7, 0.3]), rtol=1e-6)
    np.testing.assert_allclose(blend_style_vectors([V1, V2, V3]), (V1 + V2 + V3) / 3,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(blend_style_vectors([V1], [5]), V1, rtol=1e-6)


@pytest.mark.parametrize("weights", [[1, 0], [1, -2], [1, float("nan")], [1]])
def test_blend_rejects_bad_weights(weights):
    with pytest.raises(ValueError):
        blend_style_vectors([V1, V2], weights)


def test_strength_interpolates_between_content_and_style():
    np.testing.assert_allclose(apply_strength(V1, V2, 1.0), V1)
    np.testing.assert_allclose(apply_strength(V1, V2, 0.0), V2)
    np.testing.assert_allclose(apply_strength(V1, V2, 0.25), 0.25 * V1 + 0.75 * V2, rtol=1e-5,
                               atol=1e-6)
    with pytest.raises(ValueError):
        apply_strength(V1, V2, 1.5)


def test_strength_zero_stays_close_to_the_content(imported_model):
    content = load_rgb(CONTENT_DIR / "statue_of_liberty_sq.jpg")
    style = imported_model.predict_style(load_rgb(STYLE_DIR / "Camille_Mauclair.jpg"))
    own = imported_model.predict_style(content)
    distance = [np.abs(imported_model.stylize(content, apply_strength(style, own, s))
                       - content).mean() for s in (0.0, 0.5, 1.0)]
    assert distance[0] < 0.15
    assert distance[0] < distance[1] < distance[2]
    assert distance[0] < distance[2] / 2


def test_blend_of_two_styles_lies_between_them(imported_model):
    content = load_rgb(CONTENT_DIR / "golden_gate_sq.jpg")
    a = imported_model.predict_style(load_rgb(STYLE_DIR / "Camille_Mauclair.jpg"))
    b = imported_model.predict_style(load_rgb(STYLE_DIR / "piano-keyboard-sketch_sq.jpg"))
    only_a, only_b = imported_model.stylize(content, a), imported_model.stylize(content, b)
    mixed = imported_model.stylize(content, blend_style_vectors([a, b], [1, 1]))
    gap = np.abs(only_a - only_b).mean()
    assert np.abs(mixed - only_a).mean() < gap and np.abs(mixed - only_b).mean() < gap


def test_results_are_deterministic(imported_model):
    content = load_rgb(CONTENT_DIR / "eiffel_tower.jpg")
    style_image = load_rgb(STYLE_DIR / "Theo_van_Doesburg_sq.jpg")
    first = imported_model.stylize(content, imported_model.predict_style(style_image))
    second = imported_model.stylize(content, imported_model.predict_style(style_image))
    np.testing.assert_array_equal(first, second)


def test_preserve_colors_keeps_content_chroma(imported_model):
    import tensorflow as tf

    content = load_rgb(CONTENT_DIR / "colva_beach_sq.jpg")
    # A colourful style whose luminance does not clip to white (a clipped pixel has no
    # chroma left to keep): clouds-over-bor 0.014 / 0.143 below, the sketch 0.033 / 0.077.
    vector = imported_model.predict_style(load_rgb(STYLE_DIR / "clouds-over-bor-1940_sq.jpg"))
    plain = imported_model.stylize(content, vector)
    kept = imported_model.stylize(content, vector, preserve_colors=True)
    np.testing.assert_allclose(kept, transfer_luminance(content, plain), atol=1e-6)
    chroma = lambda image: tf.image.rgb_to_yuv(image).numpy()[..., 1:]  # noqa: E731
    assert np.abs(chroma(kept) - chroma(content)).mean() < 0.02
    assert np.abs(chroma(plain) - chroma(content)).mean() > 0.03
