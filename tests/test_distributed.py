"""Distributed training: gradient clipping across replicas, and --strategy mirrored on two
logical CPU devices (in a subprocess: logical devices are set before TensorFlow starts)."""

import json
import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import tensorflow as tf

from training.loop import apply_gradients

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_clipping_is_per_variable_of_the_global_gradient():
    """Magenta's clip_gradient_norm: each variable's gradient clipped to the norm (numpy)."""
    rng = np.random.default_rng(0)
    start = [rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(5,)).astype(np.float32)]
    gradients = [rng.normal(size=(3, 4)).astype(np.float32) * 10,
                 rng.normal(size=(5,)).astype(np.float32) * 0.01]
    variables = [tf.Variable(value) for value in start]
    optimizer = keras.optimizers.SGD(1.0)
    optimizer.build(variables)
    apply_gradients(optimizer, [tf.constant(g) for g in gradients], variables, 0.5)
    for variable, value, gradient in zip(variables, start, gradients, strict=True):
        clipped = gradient * min(1.0, 0.5 / np.linalg.norm(gradient))
        np.testing.assert_allclose(variable.numpy(), value - clipped, rtol=1e-5, atol=1e-6)
    assert np.linalg.norm(gradients[0]) > 0.5 > np.linalg.norm(gradients[1])  # Both cases.


MIRRORED = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    [cpu] = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from arbitrary_style.losses import LossConfig
    from training.config import DataConfig, LossNetworkConfig, OptimizerConfig
    from training.loop import LoopConfig, make_strategy
    from training.train import TrainConfig, train
    content, style, model_dir, clip = sys.argv[1:5]
    config = TrainConfig(
        data=DataConfig(content=content, style=style, image_size=32, style_image_size=32,
                        batch_size=2, seed=3, augmentation=None),
        optimizer=OptimizerConfig(loop=LoopConfig(model_dir=model_dir, train_steps=2,
                                                  log_every=1, save_every=1),
                                  learning_rate=1e-3, strategy="mirrored",
                                  clip_gradient_norm=float(clip)),
        loss=LossNetworkConfig(LossConfig(), vgg_weights=None), backbone="mobilenet_v2",
        alpha=0.25)
    result = train(config)
    print(json.dumps({"replicas": make_strategy("mirrored").num_replicas_in_sync,
                      "step": result["step"], "weights": result["weights"],
                      "total": result["losses"]["total"]}))
""")


def test_mirrored_on_two_logical_cpus(tmp_path):
    from PIL import Image

    for name in ("content", "style"):
        (tmp_path / name).mkdir()
        for index in range(2):
            noise = np.random.default_rng(index).integers(0, 255, (40, 40, 3), np.uint8)
            Image.fromarray(noise).save(tmp_path / name / f"{index}.png")
    for clip in ("0", "1.0"):
        model_dir = tmp_path / f"run_{clip}"
        completed = subprocess.run(
            [sys.executable, "-c", MIRRORED, str(tmp_path / "content"), str(tmp_path / "style"),
             str(model_dir), clip], cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert completed.returncode == 0, completed.stderr[-3000:]
        result = json.loads(completed.stdout.strip().splitlines()[-1])
        assert result["replicas"] == 2 and result["step"] == 2
        assert np.isfinite(result["total"])
        assert (model_dir / "checkpoints" / "ckpt-2.index").is_file()
        assert pathlib.Path(result["weights"]).is_dir()
