"""The training, distillation and evaluation jobs on small images (offline; random VGG)."""

import dataclasses
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from arbitrary_style.errors import UserError
from arbitrary_style.losses import LossConfig
from arbitrary_style.model import StyleModel
from arbitrary_style.weights import store
from training.config import DataConfig, LossNetworkConfig, OptimizerConfig
from training.distill import DistillConfig, distill
from training import run_dir
from training.evaluate import RANDOM_VGG_SEED, EvaluateConfig, evaluate, load_evaluated_model
from training.loop import LoopConfig
from training.train import TrainConfig, train

from conftest import CONTENT_DIR, STYLE_DIR, image_paths

SIZE = 64
RANDOM_VGG = LossNetworkConfig(losses=LossConfig(), vgg_weights=None)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """content/ and style/ folders of small copies of the sample images, and one-image ones."""
    root = tmp_path_factory.mktemp("images")
    for name, paths in [("content", image_paths(CONTENT_DIR)), ("style", image_paths(STYLE_DIR))]:
        (root / name).mkdir()
        for path in paths:
            with Image.open(path) as image:
                image.convert("RGB").resize((80, 80)).save(root / name / f"{path.stem}.png")
    for name in ("content", "style"):
        (root / f"one_{name}").mkdir()
        first = sorted((root / name).iterdir())[0]
        shutil.copy(first, root / f"one_{name}" / first.name)
    return root


def train_config(folders, model_dir, steps, *, content="content", style="style",
                 augmentation=None, learning_rate=1e-3, **kwargs):
    return TrainConfig(
        data=DataConfig(content=str(folders / content), style=str(folders / style),
                        image_size=SIZE, style_image_size=SIZE, batch_size=2, seed=3,
                        augmentation=augmentation),
        optimizer=OptimizerConfig(
            loop=LoopConfig(model_dir=str(model_dir), train_steps=steps, log_every=1,
                            save_every=2, summary_every=1, image_summary_every=2),
            learning_rate=learning_rate),
        loss=RANDOM_VGG, backbone="mobilenet_v2", alpha=0.25, **kwargs)


def test_a_fixed_batch_is_overfit(folders, tmp_path):
    result = train(train_config(folders, tmp_path / "run", 30, content="one_content",
                                style="one_style"))
    losses = result["history"]
    assert result["losses"] == losses[30]
    assert result["step"] == 30 and min(losses) == 1 and max(losses) == 30
    assert losses[30]["total"] < 0.5 * losses[1]["total"]
    # The result is a loadable weights directory, and TensorBoard got scalars and images.
    assert store.load_model(result["weights"]).config.alpha == 0.25
    events = list((tmp_path / "run" / "summaries").glob("events.out.tfevents.*"))
    tags = {value.tag for path in events for event in tf.compat.v1.train.summary_iterator(
        str(path)) for value in event.summary.value}
    assert {"loss/total", "loss/content", "stylized", "content", "style"} <= tags


def checkpoint_tensors(model_dir, step):
    reader = tf.train.load_checkpoint(str(model_dir / "checkpoints" / f"ckpt-{step}"))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if not name.startswith("_CHECKPOINTABLE_OBJECT_GRAPH")}


def assert_same_variables(actual, expected):
    """Every variable of two StyleModels, trainable or not, is equal (and there are all)."""
    assert actual.variables.keys() == expected.variables.keys()
    for path, variable in expected.variables.items():
        np.testing.assert_allclose(actual.variables[path].numpy(), variable.numpy(), rtol=1e-5,
                                   atol=1e-6, err_msg=path)


def restored_from_checkpoint(model_dir, step):
    """A fresh model restored from the run's ckpt-`step` the way its jobs restore it."""
    model = StyleModel(run_dir.read_run_config(model_dir).model_config)
    checkpoint = tf.train.Checkpoint(**run_dir.checkpointed(model))
    run_dir.restore(checkpoint, str(model_dir / "checkpoints" / f"ckpt-{step}"))
    return model


def test_a_checkpoint_holds_the_whole_model(folders, tmp_path):
    """ckpt-2 restores every variable of the model trained for 2 steps, BN statistics too."""
    result = train(train_config(folders, tmp_path / "run", 2))
    trained = store.load_model(result["weights"])
    moving = [v for v in trained.predictor.non_trainable_weights if "moving_mean" in v.path]
    assert len(moving) > 30 and max(np.abs(v.numpy()).max() for v in moving) > 0  # Updated.
    assert_same_variables(restored_from_checkpoint(tmp_path / "run", 2), trained)


def test_a_stopped_run_resumes_where_it_stopped(folders, tmp_path):
    """2 steps, stop, restart to 4 == 4 steps straight: the whole model and optimizer state."""
    make = lambda model_dir, steps: train_config(  # noqa: E731
        folders, model_dir, steps, content="one_content", style="one_style")
    straight = train(make(tmp_path / "straight", 4))
    assert straight["step"] == 4
    first = train(make(tmp_path / "resumed", 2))
    assert first["step"] == 2
    stopped_state = checkpoint_tensors(tmp_path / "resumed", 2)
    second = train(make(tmp_path / "resumed", 4))
    assert second["step"] == 4 and min(second["history"]) == 3  # continued from step 2
    assert checkpoint_tensors(tmp_path / "resumed", 2).keys() == stopped_state.keys()
    # The resumed model equals the straight one in every variable, and so do its outputs.
    expected, actual = store.load_model(straight["weights"]), store.load_model(second["weights"])
    assert_same_variables(actual, expected)
    style = np.random.default_rng(1).random((SIZE, SIZE, 3), np.float32)
    np.testing.assert_allclose(actual.predict_style(style, size=None),
                               expected.predict_style(style, size=None), atol=1e-5)
    # So does the optimizer's state (Adam's moments for every variable, and the step).
    expected, actual = checkpoint_tensors(tmp_path / "straight", 4), checkpoint_tensors(
        tmp_path / "resumed", 4)
    assert expected.keys() == actual.keys()
    optimizer_slots = [name for name in expected if name.startswith("optimizer/")]
    assert len(optimizer_slots) > 100
    for name in expected:
        np.testing.assert_allclose(actual[name], expected[name], rtol=1e-5, atol=1e-6,
                                   err_msg=name)
    # Restarting a finished run trains no further.
    assert train(make(tmp_path / "resumed", 4))["history"] == {}


def test_resuming_with_another_model_is_refused_before_the_run_is_touched(folders, tmp_path):
    model_dir = tmp_path / "run"
    train(train_config(folders, model_dir, 2))
    before = {path: path.read_bytes() for path in model_dir.rglob("*") if path.is_file()}
    for changed in ({"alpha": 0.5}, {"backbone": "inception_v3"}):
        config = dataclasses.replace(train_config(folders, model_dir, 4), **changed)
        with pytest.raises(UserError, match=f"{next(iter(changed))} .* \\(asked: ") as excinfo:
            train(config)
        assert "\n" not in str(excinfo.value)
    assert {path: path.read_bytes() for path in model_dir.rglob("*") if path.is_file()} == before
    # Without --backbone/--alpha a resumed run keeps its own.
    resumed = train(dataclasses.replace(train_config(folders, model_dir, 3), backbone=None,
                                        alpha=None))
    assert resumed["step"] == 3 and store.load_model(resumed["weights"]).config.alpha == 0.25


def test_a_checkpoint_without_the_model_is_refused(folders, tmp_path):
    """Checkpoints of the earlier layout (models as objects: their variables missing)."""
    model_dir = tmp_path / "run"
    train(train_config(folders, model_dir, 2))
    model = StyleModel(run_dir.read_run_config(model_dir).model_config)
    for path in (model_dir / "checkpoints").iterdir():
        path.unlink()
    tf.train.CheckpointManager(
        tf.train.Checkpoint(predictor=model.predictor, transformer=model.transformer),
        str(model_dir / "checkpoints"), max_to_keep=1).save(checkpoint_number=2)
    with pytest.raises(UserError, match="does not hold this run's model"):
        train(train_config(folders, model_dir, 4))
    with pytest.raises(UserError, match="does not hold this run's model"):
        load_evaluated_model(EvaluateConfig(data=DataConfig(), model_dir=str(model_dir)))


def test_single_style_network(folders, tmp_path):
    result = train(train_config(folders, tmp_path / "single", 3, content="content",
                                style="style", single_style=str(folders / "style" /
                                                                "Camille_Mauclair.png")))
    model = store.load_model(result["weights"])
    rng = np.random.default_rng(0)
    first = model.predict_style(rng.random((SIZE, SIZE, 3), np.float32), size=None)
    second = model.predict_style(rng.random((90, 70, 3), np.float32), size=None)
    np.testing.assert_allclose(first, second, atol=1e-6)  # The learned vector, for any image.
    assert np.abs(first).max() > 0


def test_distillation_lowers_the_vector_error(imported_model, folders, tmp_path):
    teacher_dir = tmp_path / "teacher"
    store.save_model(imported_model, teacher_dir)
    config = DistillConfig(
        teacher_weights=str(teacher_dir),
        data=DataConfig(content=str(folders / "content"), style=str(folders / "style"),
                        image_size=SIZE, style_image_size=SIZE, batch_size=4, seed=1,
                        augmentation=None),
        optimizer=OptimizerConfig(loop=LoopConfig(model_dir=str(tmp_path / "distill"),
                                                  train_steps=15, log_every=1),
                                  learning_rate=1e-3),
        loss=RANDOM_VGG, stylization_loss_weight=1e-3)
    result = distill(config)
    losses = result["history"]
    assert losses[15]["vector_mse"] < 0.7 * losses[1]["vector_mse"]
    assert {"vector_mse", "stylization", "total"} <= losses[15].keys()
    student = store.load_model(result["weights"])
    assert student.config.backbone == "mobilenet_v2"
    for variable in imported_model.transformer.weights:  # The teacher's transformer, unchanged.
        np.testing.assert_array_equal(student.variables[variable.path].numpy(), variable.numpy())


def test_evaluation_writes_its_report(imported_model, folders, tmp_path):
    weights = tmp_path / "weights"
    store.save_model(imported_model, weights)
    config = EvaluateConfig(
        data=DataConfig(content=str(folders / "content"), style=str(folders / "style"),
                        image_size=SIZE, style_image_size=SIZE),
        loss=RANDOM_VGG, weights=str(weights), num_content=2, num_styles=3,
        output_dir=str(tmp_path / "eval"))
    report = evaluate(config)
    saved = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert saved["num_content"] == 2 and saved["num_styles"] == 3
    assert saved["losses"]["total"] > 0 and saved["losses"]["content"] > 0
    assert saved["style_vectors"]["count"] == 3 and saved["style_vectors"]["norm_mean"] > 0
    assert report["files"][0].endswith("report.json")
    with Image.open(tmp_path / "eval" / "contact_sheet.png") as sheet:
        assert sheet.size == (4 * SIZE, 3 * SIZE)
    # A training run's checkpoint can be evaluated too.
    run = train(train_config(folders, tmp_path / "run", 2))
    assert run["step"] == 2
    from_checkpoint = evaluate(dataclasses.replace(config, weights=None,
                                                   model_dir=str(tmp_path / "run"),
                                                   output_dir=None))
    assert from_checkpoint["evaluated"].endswith("ckpt-2")
    evaluated, _ = load_evaluated_model(dataclasses.replace(config, weights=None,
                                                            model_dir=str(tmp_path / "run")))
    assert_same_variables(evaluated, store.load_model(run["weights"]))
    assert (tmp_path / "run" / "eval" / "contact_sheet.png").is_file()


@pytest.mark.parametrize("content,message", [
    ("missing_dir", "neither an existing directory"),
    ("empty", "no image"),
    ("unreadable", "unreadable"),
    ("not_a_real_tfds_builder_name", "neither an existing directory"),
])
def test_bad_data_sources_are_clear_errors(folders, tmp_path, content, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "unreadable").mkdir()
    (tmp_path / "unreadable" / "a.jpg").write_text("not an image")
    (tmp_path / "unreadable" / "b.png").write_bytes(b"\x89PNG\r\n")
    source = content if content.startswith("not_a") else str(tmp_path / content)
    config = train_config(folders, tmp_path / "run", 2)
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, content=source))
    with pytest.raises(UserError, match=message) as excinfo:
        train(config)
    assert "\n" not in str(excinfo.value)


def test_a_truncated_checkpoint_falls_back_to_the_last_intact_one(folders, tmp_path, capfd):
    """`truncate` the newest checkpoint's data: evaluation and training say so in one
    warning line and use the one before (before: IndexError "Read less bytes than
    requested")."""
    model_dir = tmp_path / "run"
    train(train_config(folders, model_dir, 4))
    intact = restored_from_checkpoint(model_dir, 2)
    data = next((model_dir / "checkpoints").glob("ckpt-4.data-*"))
    os.truncate(data, data.stat().st_size // 2)
    capfd.readouterr()
    evaluated, path = load_evaluated_model(EvaluateConfig(data=DataConfig(),
                                                          model_dir=str(model_dir)))
    assert path.endswith("ckpt-2")
    assert_same_variables(evaluated, intact)
    warning = capfd.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and warning[0].startswith("warning: checkpoint "), warning
    assert "ckpt-4 is damaged" in warning[0] and warning[0].endswith("falling back to "
                                                                     f"{path}")
    resumed = train(train_config(folders, model_dir, 4))
    assert resumed["step"] == 4 and min(resumed["history"]) == 3  # continued from step 2
    assert "falling back" in capfd.readouterr().err
    for path in (model_dir / "checkpoints").glob("ckpt-*.data-*"):
        os.truncate(path, 10)
    with pytest.raises(UserError, match="every checkpoint in .* is damaged"):
        load_evaluated_model(EvaluateConfig(data=DataConfig(), model_dir=str(model_dir)))


def test_evaluation_with_a_random_vgg_is_seeded(imported_model, folders, tmp_path):
    """`--vgg_weights none`: two runs give the same losses (before: a new random VGG each)."""
    weights = tmp_path / "weights"
    store.save_model(imported_model, weights)
    config = EvaluateConfig(
        data=DataConfig(content=str(folders / "one_content"), style=str(folders / "one_style"),
                        image_size=SIZE, style_image_size=SIZE),
        loss=RANDOM_VGG, weights=str(weights), num_content=1, num_styles=1)
    first = evaluate(dataclasses.replace(config, output_dir=str(tmp_path / "a")))
    tf.random.normal([100])  # Whatever random numbers are drawn in between.
    np.random.default_rng().random(10)
    second = evaluate(dataclasses.replace(config, output_dir=str(tmp_path / "b")))
    assert first["losses"] == second["losses"]
    assert first["vgg_weights"] == f"random (seed {RANDOM_VGG_SEED})"
