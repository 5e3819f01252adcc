"""A training run's directory: its versioned `config.json` and what its checkpoints hold.

`MODEL_DIR/config.json` says which job made the run and which model it trains; a job
restarted on the same directory must ask for the same model, and is refused (before
anything in the run is touched) when it does not. Checkpoints hold every variable of the
model by its Keras path, trainable or not (batch-norm moving statistics included), so a
resumed run and an evaluated run use exactly the weights the run has trained.
"""

import dataclasses
import json
import pathlib
import sys

import tensorflow as tf

from arbitrary_style.atomic import atomic_file
from arbitrary_style.errors import UserError
from arbitrary_style.model_config import ModelConfig

RUN_FORMAT_VERSION = 1
RUN_CONFIG_FILE = "config.json"
JOBS = ("train", "distill")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """What a run trains: the job, the model's architecture, and the job's fixed inputs."""

    job: str
    backbone: str
    alpha: float
    single_style: str | None = None  # train: the one style of a single-style network.
    teacher: str | None = None  # distill: the teacher's weights.

    @property
    def model_config(self):
        return ModelConfig(self.backbone, self.alpha)


def read_run_config(model_dir):
    """The RunConfig of `model_dir`, or None when it has none yet."""
    path = pathlib.Path(model_dir) / RUN_CONFIG_FILE
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text())
        version = raw.pop("format_version")
        if version != RUN_FORMAT_VERSION:
            raise UserError(f"{path} has run format version {version}; this version of "
                            f"arbitrary_style reads version {RUN_FORMAT_VERSION}")
        run = RunConfig(**raw)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(f"{path} is not a training run config: {error}") from None
    if run.job not in JOBS:
        raise UserError(f"{path}: unknown job {run.job!r}")
    return run


def claim_run(model_dir, run):
    """Makes `model_dir` the directory of `run`, or refuses when it belongs to another run.

    A new directory gets `config.json`; an existing run must match it field by field.
    """
    model_dir = pathlib.Path(model_dir)
    existing = read_run_config(model_dir)
    if existing is not None:
        if existing != run:
            differences = ", ".join(
                f"{field.name} {getattr(existing, field.name)!r} (asked: "
                f"{getattr(run, field.name)!r})"
                for field in dataclasses.fields(run)
                if getattr(existing, field.name) != getattr(run, field.name))
            raise UserError(f"{model_dir} is a run with {differences}; resume it with the "
                            "same settings or use another --model_dir")
        return
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
        with atomic_file(model_dir / RUN_CONFIG_FILE) as temporary:
            temporary.write_text(json.dumps(
                {"format_version": RUN_FORMAT_VERSION, **dataclasses.asdict(run)},
                indent=2) + "\n")
    except OSError as error:
        raise UserError(f"cannot write the run directory {model_dir}: {error}") from None


def checkpointed(model, **extra):
    """What a run's checkpoints hold besides the optimizer: {"model": {path: variable}} for
    every variable of the StyleModel, plus `extra` trackables (e.g. a single style vector).

    Keras 3 models are not checkpoint dependencies of their own (a Checkpoint given one
    saves almost none of its variables), so the variables are listed by path.
    """
    return {"model": dict(model.variables), **extra}


class DamagedCheckpoint(UserError):
    """A checkpoint whose files are truncated, corrupt or missing."""


def restore(checkpoint, path):
    """Restores `path` into `checkpoint`, requiring a value for every object it tracks.

    Raises DamagedCheckpoint when its files cannot be read, UserError when it holds another
    model.
    """
    try:
        checkpoint.restore(path).expect_partial().assert_existing_objects_matched()
    except (IndexError, tf.errors.DataLossError, tf.errors.NotFoundError) as error:
        # IndexError: "Read less bytes than requested" (a truncated data file).
        reason = " ".join(str(error).split())[:200] or type(error).__name__
        raise DamagedCheckpoint(f"checkpoint {path} is damaged ({reason})") from None
    except (AssertionError, ValueError, tf.errors.OpError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"checkpoint {path} does not hold this run's model ({first[:200]}); "
                        "it may come from an older arbitrary_style or another run") from None


def restore_latest(checkpoint, directory):
    """Restores the newest intact checkpoint of `directory` (tf.train.CheckpointManager's);
    returns its path, or None when there is none. A damaged newer one is skipped with a
    `warning:` line naming both; UserError when every one is damaged."""
    state = tf.train.get_checkpoint_state(str(directory))
    if state is None or not state.model_checkpoint_path:
        return None
    paths = list(dict.fromkeys([state.model_checkpoint_path,
                                *reversed(state.all_model_checkpoint_paths)]))
    damaged = []
    for path in paths:
        try:
            restore(checkpoint, path)
        except DamagedCheckpoint as error:
            damaged.append(str(error))
            continue
        for line in damaged:
            print(f"warning: {line}; falling back to {path}", file=sys.stderr)
        return path
    raise UserError(f"every checkpoint in {directory} is damaged: {'; '.join(damaged)}")
