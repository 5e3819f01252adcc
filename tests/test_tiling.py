"""Tiled stylization (thumbnail instance normalisation), the moments API and stroke scale."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import CONTENT_DIR, STYLE_DIR, load_rgb, stylizer

from arbitrary_style import image_io, memory, tiling

STYLE = STYLE_DIR / "Camille_Mauclair.jpg"


@pytest.fixture(scope="session")
def light_model(weights_home):
    """The light model of the session's weights, from the graphs `weights_home` built (its
    cache, not the user's: a session fixture is made before `isolated_home` applies)."""
    from arbitrary_style.backends import light
    from arbitrary_style.weights import store

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ARBITRARY_STYLE_HOME", str(weights_home))
        model = light.load_built(weights_home / "weights" / store.DEFAULT_WEIGHTS)
    assert model is not None
    return model


@pytest.fixture(scope="session")
def vector(imported_model):
    return imported_model.predict_style(load_rgb(STYLE))


def photo(name, width, height):
    """A sample photo resized (bicubic) to width x height, float [0,1]."""
    return image_io.resize(load_rgb(CONTENT_DIR / name), (width, height), Image.BICUBIC)


def test_moments_api_on_both_backends(imported_model, light_model, vector):
    content = photo("golden_gate_sq.jpg", 150, 122)  # 122 is not a multiple of 4
    other = photo("eiffel_tower.jpg", 96, 120)
    for model in (imported_model, light_model):
        plain = model.stylize(content, vector)
        same, own = model.stylize_with_moments(content, vector)
        assert own.shape == (model.moments_size,) and own.dtype == np.float32
        np.testing.assert_array_equal(same, plain)  # no moments given: the plain network
        np.testing.assert_array_equal(model.stylize_with_moments(content, vector, own, 0.0)[0],
                                      plain)
        again, own_again = model.stylize_with_moments(content, vector, own, 1.0)
        assert np.abs(again - plain).max() < 1e-5 and np.abs(own_again - own).max() < 1e-5
        _, foreign = model.stylize_with_moments(other, vector)
        mixed, own_mixed = model.stylize_with_moments(content, vector, foreign, 1.0)
        assert np.abs(own_mixed[:64] - own[:64]).max() < 1e-5  # the first CIN's own input
        assert np.abs(mixed - plain).mean() > 0.02  # other moments change the image
        half = model.stylize_with_moments(content, vector, foreign, 0.5)[0]
        assert 0.05 < np.abs(half - plain).mean() / np.abs(mixed - plain).mean() < 0.95
        batch, batch_own = model.stylize_with_moments(np.stack([content, content]), vector,
                                                      np.stack([own, foreign]), [0.0, 1.0])
        assert batch_own.shape == (2, model.moments_size)
        assert np.abs(batch[0] - plain).max() < 1e-5 and np.abs(batch[1] - mixed).max() < 1e-5
    keras = imported_model.stylize_with_moments(content, vector, foreign, 1.0)
    onnx = light_model.stylize_with_moments(content, vector, foreign, 1.0)
    assert imported_model.moments_size == light_model.moments_size
    assert np.abs(keras[0] - onnx[0]).mean() < 1e-3 and np.abs(keras[1] - onnx[1]).max() < 1e-3


def borders(spans):
    """The positions where neighbouring tiles' blend hands over (centre of each overlap)."""
    return [(spans[i + 1][0] + spans[i][1]) // 2 for i in range(len(spans) - 1)]


def seam_ratio(image, rows, columns):
    """Mean |step| between neighbouring pixels across the given rows and columns, over the
    same mean everywhere: about 1 without seams, larger where tiles disagree."""
    luma = image @ np.array([0.299, 0.587, 0.114], np.float32)
    across_columns = np.abs(np.diff(luma, axis=1))  # [:, x - 1] is the step into column x
    across_rows = np.abs(np.diff(luma, axis=0))
    at_borders = np.concatenate([across_columns[:, [x - 1 for x in columns]].ravel(),
                                 across_rows[[y - 1 for y in rows]].ravel()])
    return at_borders.mean() / np.concatenate([across_columns.ravel(),
                                               across_rows.ravel()]).mean()


def naive_tiles(model, content, vector, rows, columns):
    """Tiles with their own moments cut at the overlap centres (no TIN, no blending)."""
    output = np.empty_like(content)
    cuts = [(0, *borders(rows), content.shape[0]), (0, *borders(columns), content.shape[1])]
    for (top, bottom), (r0, r1) in zip(rows, zip(cuts[0], cuts[0][1:])):
        for (left, right), (c0, c1) in zip(columns, zip(cuts[1], cuts[1][1:])):
            piece = model.stylize(content[top:bottom, left:right], vector)
            output[r0:r1, c0:c1] = piece[r0 - top:r1 - top, c0 - left:c1 - left]
    return output


def test_tiled_matches_whole_without_seams(light_model, vector):
    content = photo("golden_gate_sq.jpg", 759, 634)  # not multiples of 4: padded
    tile = 256
    rows, columns = memory.tile_spans(634, tile), memory.tile_spans(759, tile)
    assert len(rows) * len(columns) >= 12
    whole = light_model.stylize(content, vector)
    tiled = tiling.stylize_tiled(light_model, content, vector, tile)
    difference = np.abs(tiled - whole)
    assert difference.mean() <= 2 / 255  # measured: 0.0006/255 (max 0.37/255)
    assert difference.max() <= 2 / 255
    band = np.zeros(content.shape[:2], bool)  # every pixel two or more tiles cover
    for spans, axis in ((rows, 0), (columns, 1)):
        for i in range(len(spans) - 1):
            index = [slice(None), slice(None)]
            index[axis] = slice(spans[i + 1][0], spans[i][1])
            band[tuple(index)] = True
    assert difference[band].mean() <= max(2 * difference[~band].mean(), 0.05 / 255)
    y_borders, x_borders = borders(rows), borders(columns)
    reference = seam_ratio(whole, y_borders, x_borders)
    assert abs(seam_ratio(tiled, y_borders, x_borders) - reference) < 0.02
    # The check can fail: naive tiles show their seams (measured 2.83 vs 0.97).
    naive = naive_tiles(light_model, content, vector, rows, columns)
    assert seam_ratio(naive, y_borders, x_borders) > reference + 0.5


def test_uint8_tiles_and_thumbnail(light_model, vector):
    content = photo("colva_beach_sq.jpg", 600, 520)
    pixels = np.round(content * 255).astype(np.uint8)
    moments = tiling.thumbnail_moments(light_model, pixels, vector, 300)
    tiled = tiling.stylize_tiled(light_model, pixels, vector, 256, moments=moments)
    assert tiled.dtype == np.uint8 and tiled.shape == pixels.shape
    floats = tiling.stylize_tiled(light_model, pixels.astype(np.float32) / 255, vector, 256,
                                  moments=moments)
    assert floats.dtype == np.float32
    assert np.abs(tiled.astype(np.float32) - floats * 255).max() <= 0.5 + 1e-3
    by_default = tiling.stylize_tiled(light_model, pixels, vector, 256, thumbnail_size=300)
    np.testing.assert_array_equal(by_default, tiled)
    # A smaller thumbnail gives other moments (TIN's approximation), not a broken image.
    whole = light_model.stylize(pixels.astype(np.float32) / 255, vector)
    assert 1 / 255 < np.abs(floats - whole).mean() < 40 / 255


def test_plan_tiles_only_over_budget():
    size = (3000, 2000)
    assert memory.plan(size, size, 0.25).tile == 0  # no budget: whole
    whole = memory.estimate_stylize_bytes(size, size, 0.25)
    assert memory.plan(size, size, 0.25, budget=whole).tile == 0
    layout = memory.plan(size, size, 0.25, budget=whole // 3)
    assert layout.tile >= memory.MIN_TILE and layout.tiles > 1
    assert layout.estimated_bytes <= whole // 3
    forced = memory.plan(size, size, 0.25, tile=512)
    assert forced.tile == 512 and forced.tiles == len(memory.tile_spans(3000, 512)) * len(
        memory.tile_spans(2000, 512))
    with pytest.raises(ValueError, match="needs an estimated"):
        memory.plan(size, size, 0.25, budget=size[0] * size[1] * 8)  # decoding alone
    for length, tile in ((1000, 256), (1001, 300), (257, 256), (200, 256)):
        spans = memory.tile_spans(length, tile)
        assert spans[0][0] == 0 and spans[-1][1] == length
        assert all(start % 4 == 0 for start, _ in spans)
        assert all(b[0] <= a[1] - memory.OVERLAP for a, b in zip(spans, spans[1:]))


def test_command_tiles_huge_image_within_budget(weights_home, tmp_path):
    """A 3000x3000 photo under --max_memory 600M (whole: ~1.7 GiB) is tiled; the peak
    resident memory, measured by an intermediate process, stays under the budget."""
    content = tmp_path / "big.jpg"
    Image.open(CONTENT_DIR / "colva_beach_sq.jpg").resize((3000, 3000), Image.BICUBIC).save(
        content, quality=92)
    budget = 600 * 2**20
    assert memory.estimate_stylize_bytes((3000, 3000), (3000, 3000), 0.25) > 2 * budget
    command = [sys.executable, "-m", "arbitrary_style.stylize", "--content", str(content),
               "--styles", str(STYLE), "--content_size", "0", "--max_memory", "600M",
               "--output", str(tmp_path / "out.png"), "--json"]
    measure = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024, "
               "file=sys.stderr); sys.exit(r.returncode)")
    result = subprocess.run([sys.executable, "-c", measure, *command], capture_output=True,
                            text=True, timeout=600, check=False,
                            env={**os.environ, "ARBITRARY_STYLE_HOME": str(weights_home)})
    assert result.returncode == 0, result.stderr
    peak = int(result.stderr.strip().splitlines()[-1])
    entry = json.loads(result.stdout)["outputs"][0]
    assert entry["tiles"] > 1 and entry["tile"] >= memory.MIN_TILE
    assert entry["estimated_bytes"] <= budget
    assert entry["peak_rss_bytes"] <= peak <= budget
    stylized = image_io.load_image(tmp_path / "out.png")
    assert stylized.shape == (3000, 3000, 3) and stylized.std() > 0.05


def test_command_refuses_when_even_tiles_do_not_fit(weights_home, tmp_path):
    content = tmp_path / "big.png"
    Image.new("RGB", (3000, 3000), "gray").save(content)
    result = subprocess.run(
        [sys.executable, "-m", "arbitrary_style.stylize", "--content", str(content),
         "--styles", str(STYLE), "--content_size", "0", "--max_memory", "100M",
         "--output", str(tmp_path / "out.png")], capture_output=True, text=True, timeout=300,
        check=False, env={**os.environ, "ARBITRARY_STYLE_HOME": str(weights_home)})
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(errors) == 1 and "3000x3000" in errors[0] and "tiled needs" in errors[0]
    assert not (tmp_path / "out.png").exists()


def spectral_centroid(stylized, content):
    """Power-weighted mean spatial frequency (cycles/pixel) of the luma the style adds."""
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    added = stylized @ luma - content @ luma
    window = np.hanning(added.shape[0])[:, None] * np.hanning(added.shape[1])[None]
    power = np.abs(np.fft.rfft2((added - added.mean()) * window)) ** 2
    frequency = np.hypot(np.fft.fftfreq(added.shape[0])[:, None],
                         np.fft.rfftfreq(added.shape[1])[None])
    return (power * frequency).sum() / power.sum()


def test_stroke_scale(light_model, vector):
    content = photo("colva_beach_sq.jpg", 512, 512)
    plain = light_model.stylize(content, vector)
    np.testing.assert_array_equal(stylizer(light_model, vector).array(content), plain)
    np.testing.assert_array_equal(
        stylizer(light_model, vector, stroke_scale=1.0).array(content), plain)
    centroids = {s: spectral_centroid(
        stylizer(light_model, vector, stroke_scale=s).array(content), content)
                 for s in (1, 2, 4)}
    # Strokes twice as large: the added texture's frequency falls by about 2 (measured
    # 1.6-2.1 over 3 photos x 3 styles; 2.0 here); 4 falls further.
    assert 1.6 < centroids[1] / centroids[2] < 2.5
    assert centroids[4] < 0.8 * centroids[2]
    big = stylizer(light_model, vector, stroke_scale=2).array(content)
    assert big.shape == content.shape and big.dtype == np.float32
    pixels = np.round(content * 255).astype(np.uint8)
    as_uint8 = stylizer(light_model, vector, stroke_scale=2).array(pixels)
    assert as_uint8.dtype == np.uint8 and np.abs(as_uint8 / 255 - big).mean() < 2 / 255


def test_tiles_on_the_tensorflow_backend(imported_model, vector):
    content = photo("statue_of_liberty_sq.jpg", 421, 302)
    whole = imported_model.stylize(content, vector)
    tiled = stylizer(imported_model, vector, tile=256).array(content)
    assert np.abs(tiled - whole).max() <= 2 / 255


@pytest.mark.parametrize("flag, value", [("--tile", "100"), ("--tile", "-1"),
                                         ("--stroke_scale", "0"), ("--stroke_scale", "100")])
def test_command_rejects_bad_tile_and_stroke_flags(tmp_path, flag, value):
    result = subprocess.run(
        [sys.executable, "-m", "arbitrary_style.stylize", "--content",
         str(CONTENT_DIR / "colva_beach_sq.jpg"), "--styles", str(STYLE), flag, value,
         "--output", str(tmp_path / "out.png")], capture_output=True, text=True, timeout=120,
        check=False)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(errors) == 1 and flag in errors[0]
    assert not (tmp_path / "out.png").exists()


def test_thumbnail_moments_take_one_pass(imported_model, light_model, vector, monkeypatch):
    """`instance_moments` gives the moments `stylize_with_moments` gives, and on the light
    backend runs only the moments graph: a thumbnail is not stylized a second time."""
    content = photo("golden_gate_sq.jpg", 150, 122)
    for model in (imported_model, light_model):
        np.testing.assert_array_equal(model.instance_moments(content, vector),
                                      model.stylize_with_moments(content, vector)[1])
    plain_passes = []
    plain = type(light_model)._transfer
    monkeypatch.setattr(type(light_model), "_transfer",
                        lambda self, *args: plain_passes.append(1) or plain(self, *args))
    tiling.thumbnail_moments(light_model, content, vector)
    assert plain_passes == []
    light_model.stylize_with_moments(content, vector)  # weight 0: the plain graph's image
    assert plain_passes == [1]
