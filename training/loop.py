"""What the training and distillation jobs share: strategy, checkpoints, summaries, progress.

A job builds its model and optimizer under `strategy.scope()`, writes a per-replica
`step_fn(batch) -> {name: scalar loss}`, and hands both to `TrainingLoop.run`, which
restores the latest checkpoint (so a restarted job continues where it stopped), runs
the distributed steps, logs a progress line, writes TensorBoard summaries and saves
checkpoints with `tf.train.CheckpointManager`.
"""

import contextlib
import dataclasses
import os
import pathlib
import re
import shutil
import time

import tensorflow as tf
from absl import logging

from arbitrary_style.errors import UserError
from training import run_dir

STRATEGIES = ("default", "mirrored", "multi_worker")
TIMEOUT_VARIABLE = "ARBITRARY_STYLE_COLLECTIVE_TIMEOUT"
DEFAULT_COLLECTIVE_TIMEOUT = 300


def make_strategy(name):
    """A tf.distribute strategy: default (one device), mirrored (all local GPUs, else the
    logical CPUs), or multi_worker (several machines, configured by the TF_CONFIG environment
    variable)."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy(
            communication_options=tf.distribute.experimental.CommunicationOptions(
                timeout_seconds=collective_timeout()))
    raise UserError(f"unknown --strategy {name!r}; choose one of {', '.join(STRATEGIES)}")


def collective_timeout():
    """Seconds a multi-worker collective waits for its peers before failing (so a dead
    worker stops the others with an error instead of a hang): $ARBITRARY_STYLE_COLLECTIVE_TIMEOUT,
    default 300."""
    value = os.environ.get(TIMEOUT_VARIABLE, str(DEFAULT_COLLECTIVE_TIMEOUT))
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0
    if seconds <= 0:
        raise UserError(f"${TIMEOUT_VARIABLE} must be a positive number of seconds, not {value!r}")
    return seconds


def apply_gradients(optimizer, gradients, variables, clip_gradient_norm=0.0):
    """Applies this replica's `gradients` (of its share of the global batch's mean loss).

    With `clip_gradient_norm` > 0 each variable's gradient of the global batch is clipped to
    that norm, as Magenta's (slim's) `clip_gradient_norm`. Keras's `clipnorm` would clip each
    replica's part instead, so the sum over replicas is taken here, clipped, and handed to the
    optimizer as equal shares (it sums the replicas' gradients again).
    """
    if clip_gradient_norm > 0:
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync
        gradients = [tf.clip_by_norm(gradient, clip_gradient_norm) / replicas for gradient in
                     context.all_reduce(tf.distribute.ReduceOp.SUM, list(gradients))]
    optimizer.apply_gradients(zip(gradients, variables, strict=True))


@dataclasses.dataclass(frozen=True)
class LoopConfig:
    model_dir: str
    train_steps: int
    log_every: int = 10
    summary_every: int = 100
    image_summary_every: int = 1000
    save_every: int = 1000
    max_checkpoints: int = 3


class TrainingLoop:
    """Checkpointed, summarised, distributed training steps."""

    def __init__(self, config, strategy, optimizer, trackables):
        """`trackables`: {name: object} saved in checkpoints besides the optimizer (see
        `run_dir.checkpointed`: the model's variables by path)."""
        self.config = config
        self.strategy = strategy
        self.optimizer = optimizer
        model_dir = pathlib.Path(config.model_dir)
        self.checkpoints = model_dir / "checkpoints"  # The chief's: every worker resumes there.
        self.scratch = None
        if not is_chief(strategy):  # Other workers write what they must where nobody reads.
            self.scratch = model_dir / f".worker_{strategy.cluster_resolver.task_id}"
            model_dir = self.scratch
        self.checkpoint = tf.train.Checkpoint(optimizer=optimizer, **trackables)
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(model_dir / "checkpoints"),
                                                  max_to_keep=config.max_checkpoints)
        self.writer = tf.summary.create_file_writer(str(model_dir / "summaries"))

    @property
    def step(self):
        return int(self.optimizer.iterations.numpy())

    def restore(self):
        """Restores the latest checkpoint, if any; returns the step to continue from."""
        latest = run_dir.restore_latest(self.checkpoint, self.checkpoints)
        if latest:
            logging.info("resumed from %s at step %d", latest, self.step)
        return self.step

    def run(self, step_fn, make_dataset, image_fn=None):
        """Runs `step_fn` until `train_steps`; returns the logged losses {step: {name: value}}.

        `make_dataset(start_step)` gives the batches from the step training starts at
        (after a restore); seeding it with the step keeps a resumed run reproducible
        without replaying the batches already seen. `image_fn(batch) -> {name: images}`
        adds image summaries.
        """
        with self._peer_failures():
            history = self._run(step_fn, make_dataset, image_fn)
        self.writer.close()
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)
        return history

    def _run(self, step_fn, make_dataset, image_fn):
        """`run` from the restore to the last checkpoint: all that talks to other workers."""
        start_step = self.restore()
        history = {}
        if start_step >= self.config.train_steps:
            logging.info("already trained %d of %d steps", start_step, self.config.train_steps)
            return history
        dataset = make_dataset(start_step).with_options(global_batch_options())
        batches = iter(self.strategy.experimental_distribute_dataset(dataset))

        @tf.function
        def distributed_step(batch):
            losses = self.strategy.run(step_fn, args=(batch,))
            return {name: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
                    for name, value in losses.items()}

        last_time, last_step = time.perf_counter(), start_step
        with self.writer.as_default():
            while self.step < self.config.train_steps:
                batch = next(batches)
                losses = self._step(distributed_step, batch)
                step = self.step
                if step % self.config.summary_every == 0 or step == self.config.train_steps:
                    for name, value in losses.items():
                        tf.summary.scalar(f"loss/{name}", value, step=step)
                if image_fn and step % self.config.image_summary_every == 0:
                    local = self.strategy.experimental_local_results(batch)[0]
                    for name, images in image_fn(local).items():
                        tf.summary.image(name, images, step=step, max_outputs=4)
                if step % self.config.log_every == 0 or step in (start_step + 1,
                                                                 self.config.train_steps):
                    history[step] = losses
                    now = time.perf_counter()
                    rate = (step - last_step) / max(now - last_time, 1e-9)
                    last_time, last_step = now, step
                    shown = " ".join(f"{k}={v:.4g}" for k, v in sorted(losses.items()))
                    logging.info("step %d/%d %s (%.2f steps/s)", step, self.config.train_steps,
                                 shown, rate)
                if step % self.config.save_every == 0 or step == self.config.train_steps:
                    self.manager.save(checkpoint_number=step)
        return history

    def _step(self, distributed_step, batch):
        """One step on every replica: its losses, averaged over the replicas, as floats."""
        return {name: float(value) for name, value in distributed_step(batch).items()}

    @contextlib.contextmanager
    def _peer_failures(self):
        """A worker that died or stopped answering is a UserError naming it.

        Not only the steps talk to the other workers: with MultiWorkerMirroredStrategy each
        `next()` of the distributed dataset all-reduces (eagerly) how many replicas have a
        batch, so the whole loop (restore, batches, steps, summaries, checkpoints) runs
        inside this one handler. The error names the tasks in TensorFlow's message but this
        one (whose own ops the message names too).
        """
        try:
            yield
        except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError) as error:
            resolver = getattr(self.strategy, "cluster_resolver", None)
            if resolver is None:
                raise
            this = f"/job:{resolver.task_type}/replica:0/task:{resolver.task_id}"
            tasks = sorted(set(re.findall(r"/job:\w+/replica:\d+/task:\d+", error.message))
                           - {this})
            raise UserError(
                f"multi-worker training stopped at step {self.step + 1}: "
                f"{', '.join(tasks) or 'a worker'} failed or did not answer within "
                f"${TIMEOUT_VARIABLE}={collective_timeout():g} s "
                f"({type(error).__name__}); restart all workers to resume from the last "
                "checkpoint") from None


def global_batch_options():
    """tf.data options that make N workers see one process's global batches, by construction.

    Each worker runs the whole (seeded) pipeline and keeps its slice of every global batch
    (DATA sharding), so worker i's images are exactly those a single process would put at
    i's place in the batch. AUTO would pick FILE sharding wherever it finds file readers (a
    tfds source's TFRecords): each worker would then read other files, shuffle and batch
    them on its own, and the global batch would be another one (each worker reading all of
    the data is the price). `deterministic` is stated rather than left to TensorFlow's
    default: the order of the elements is the pairing of content, style and per-element
    seeds.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    options.deterministic = True
    return options


def is_chief(strategy):
    """True on the worker that writes the results (always, outside multi-worker training)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or resolver.task_type in (None, "chief"):
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief
