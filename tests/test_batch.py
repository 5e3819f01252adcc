"""`python -m arbitrary_style.batch` end to end, on Beam's DirectRunner.

The main job runs once per module in multi-processing mode with two workers over a folder
of 30 small images (3 of them unreadable); its outputs are compared with the stylize
command's on the same folder and flags. A second job is SIGKILLed midway and re-run. The
per-input CSV mode, and remote URIs (through a fake FileSystem, in-process), run on the
in-process DirectRunner.
"""

import csv
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.localfilesystem import LocalFileSystem
from apache_beam.options.pipeline_options import PipelineOptions
from PIL import Image

from arbitrary_style import atomic
from arbitrary_style.batch import transforms
from arbitrary_style.batch.__main__ import _absolute, counters, outcome, processes_per_machine
from arbitrary_style.model_config import norm_layers
from conftest import CONTENT_DIR, STYLE_DIR, image_paths, style_vector_of, stylizer

STYLES = image_paths(STYLE_DIR)
STYLE_SPEC = f"{STYLES[0]}:0.7,{STYLES[1]}:0.3"
FLAGS = ["--strength", "0.8", "--content_size", "100"]
TWO_WORKERS = ["--direct_running_mode", "multi_processing", "--direct_num_workers", "2"]
BAD = {"truncated.jpg", "text.jpg", "empty.jpg"}


def run_module(module, args, home, **kwargs):
    return subprocess.run([sys.executable, "-m", module, *map(str, args)],
                          env={**os.environ, "ARBITRARY_STYLE_HOME": str(home)},
                          capture_output=True, text=True, timeout=600, **kwargs)


def run_batch(args, home, *, stderr=None):
    """The job's JSON summary; its stderr lines are appended to `stderr` if given."""
    result = run_module("arbitrary_style.batch", [*args, "--json"], home)
    assert result.returncode == 0, result.stderr
    if stderr is not None:
        stderr.extend(result.stderr.splitlines())
    return json.loads(result.stdout)


def make_folder(directory, count, sizes):
    """`count` images cut from the sample photos (sizes cycled), JPEG and PNG."""
    directory.mkdir()
    photos = image_paths(CONTENT_DIR)
    for index in range(count):
        width, height = sizes[index % len(sizes)]
        with Image.open(photos[index % len(photos)]) as photo:
            image = photo.convert("RGB").resize((width, height), Image.BILINEAR)
        image.save(directory / f"photo_{index:02d}.{'png' if index % 5 == 0 else 'jpg'}")
    return directory


def add_bad_images(directory):
    good = (directory / "photo_01.jpg").read_bytes()
    (directory / "truncated.jpg").write_bytes(good[:len(good) // 2])
    (directory / "text.jpg").write_text("not an image\n")
    (directory / "empty.jpg").write_bytes(b"")


def load(path):
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def outputs(directory):
    """The (non-hidden) images written in `directory`, by name."""
    return {p.name: p for p in pathlib.Path(directory).glob("*.png") if not p.name.startswith(".")}


def temporaries(directory):
    return [p for p in pathlib.Path(directory).rglob("*") if p.name.startswith(atomic.PREFIX)]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """27 images of 64..128 px and 3 unreadable ones."""
    directory = make_folder(tmp_path_factory.mktemp("batch") / "photos", 27,
                            [(64, 64), (96, 72), (128, 100), (80, 128), (112, 112)])
    add_bad_images(directory)
    return directory


@pytest.fixture(scope="module")
def batch_job(folder, weights_home):
    """One two-worker job over `folder` (summary, output directory, stderr lines)."""
    output = folder.parent / "batch_out"
    stderr = []
    summary = run_batch(["--input", folder, "--styles", STYLE_SPEC, "--output", output,
                         *FLAGS, *TWO_WORKERS], weights_home, stderr=stderr)
    return summary, output, stderr


@pytest.fixture(scope="module")
def stylize_job(folder, weights_home):
    """The stylize command on the same folder and flags (its JSON summary, directory)."""
    output = folder.parent / "stylize_out"
    result = run_module("arbitrary_style.stylize", ["--content", folder, "--styles",
                                                    STYLE_SPEC, "--output", output, *FLAGS,
                                                    "--json"], weights_home)
    assert result.returncode == 1, result.stderr  # 1: some inputs failed
    return json.loads(result.stdout), output


def test_outputs_equal_the_stylize_command(batch_job, stylize_job, folder):
    _, output, _ = batch_job
    reference, _ = stylize_job
    assert len(reference["outputs"]) == 27
    for entry in reference["outputs"]:
        ours = output / f"{pathlib.Path(entry['content']).name}.png"
        np.testing.assert_array_equal(load(ours), load(entry["output"]), err_msg=str(ours))
    written = sorted(outputs(output))
    assert written == sorted(f"{p.name}.png" for p in folder.iterdir() if p.name not in BAD)


def test_failures_file_lists_each_bad_input_once(batch_job, stylize_job):
    _, output, _ = batch_job
    reference, _ = stylize_job
    lines = (output / transforms.FAILURES_FILE).read_text().splitlines()
    failures = sorted((json.loads(line) for line in lines), key=lambda f: f["input"])
    expected = sorted(reference["failed"], key=lambda f: f["content"])
    assert [f["input"] for f in failures] == [f["content"] for f in expected]
    assert {pathlib.Path(f["input"]).name for f in failures} == BAD
    assert [f["error"] for f in failures] == [f["error"] for f in expected]


def test_summary_counts_and_no_temporaries(batch_job):
    summary, output, _ = batch_job
    assert (summary["done"], summary["skipped"], summary["failed"], summary["inputs"]) == (
        27, 0, 3, 30)
    assert summary["backend"] == "light"  # the --backend value, not a class name
    assert summary["worker_threads"] == max(1, len(os.sched_getaffinity(0)) // 2)
    assert summary["images_per_second"] == pytest.approx(27 / summary["seconds"], rel=0.01)
    assert temporaries(output) == []
    settings = json.loads((output / transforms.SETTINGS_FILE).read_text())
    assert settings["strength"] == 0.8 and settings["content_size"] == 100


def test_only_its_own_lines_on_stderr(batch_job):
    """The worker processes' start-up lines (Beam's "apitools not found", "Logging handler
    created.") stay hidden; the one line left is the job's own warning."""
    summary, _, stderr = batch_job
    assert stderr == [f"warning: 3 inputs failed; see {summary['failures']}"]


def test_rerun_with_other_settings_is_refused(batch_job, folder, weights_home):
    _, output, _ = batch_job
    result = run_module("arbitrary_style.batch", ["--input", folder, "--styles", STYLE_SPEC,
                                                  "--output", output, "--strength", "0.5"],
                        weights_home)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: --output")
    assert "strength" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("args, message", [
    (["--strenght", "0.5"], "error: unknown flag --strenght"),
    (["--direct_num_workers", "two"], "error: bad Beam pipeline option"),
])
def test_bad_flags_are_one_line_errors(args, message, folder, tmp_path):
    result = run_module("arbitrary_style.batch", ["--input", folder, "--styles", STYLE_SPEC,
                                                  "--output", tmp_path / "out", *args],
                        tmp_path / "home")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(message)
    assert "Traceback" not in result.stderr


def test_output_inside_the_input_directory_is_refused(folder, tmp_path):
    result = run_module("arbitrary_style.batch", ["--input", folder, "--styles", STYLE_SPEC,
                                                  "--output", folder / "out"], tmp_path)
    assert result.returncode == 1
    assert "inside the input directory" in result.stderr
    assert not (folder / "out").exists()


def test_killed_job_resumes_and_writes_each_output_once(tmp_path, weights_home):
    photos = make_folder(tmp_path / "photos", 24, [(256, 256), (240, 256)])
    output = tmp_path / "out"
    args = ["--input", photos, "--styles", STYLES[2], "--output", output, *TWO_WORKERS]
    job = subprocess.Popen([sys.executable, "-m", "arbitrary_style.batch", *map(str, args)],
                           env={**os.environ, "ARBITRARY_STYLE_HOME": str(weights_home)},
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    deadline = time.monotonic() + 300
    while len(outputs(output)) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(job.pid, signal.SIGKILL)  # the launcher and its worker processes
    job.wait()
    before = {name: (p.stat().st_ino, p.stat().st_mtime_ns) for name, p in outputs(output).items()}
    assert 2 <= len(before) < 24, "the job was not killed midway"

    summary = run_batch(args, weights_home)
    assert (summary["done"], summary["skipped"], summary["failed"]) == (
        24 - len(before), len(before), 0)
    after = {name: (p.stat().st_ino, p.stat().st_mtime_ns) for name, p in outputs(output).items()}
    assert sorted(after) == sorted(f"{p.name}.png" for p in photos.iterdir())
    assert all(after[name] == stat for name, stat in before.items())  # not rewritten
    assert temporaries(output) == []
    assert (output / transforms.FAILURES_FILE).read_text() == ""
    for name in after:
        assert load(output / name).shape[:2] == load(photos / name[:-4]).shape[:2]


def test_style_per_input(folder, weights_home, tmp_path):
    contents = sorted(p for p in folder.iterdir() if p.name not in BAD)[:3]
    blend = f"{STYLES[2]}:1,{STYLES[3]}:3"
    pairs = [(contents[0], STYLES[0]), (contents[1], STYLES[0]), (contents[0], blend),
             (folder / "empty.jpg", STYLES[0]), (contents[2], tmp_path / "missing.jpg"),
             (contents[1], STYLES[0]), ("one column",)]  # a repeated row, a bad row
    table = tmp_path / "pairs.csv"
    with open(table, "w", newline="") as handle:
        csv.writer(handle).writerows([("content", "style"), *pairs])
    output = tmp_path / "out"
    summary = run_batch(["--style_per_input", table, "--output", output, *FLAGS], weights_home)
    assert (summary["done"], summary["skipped"], summary["failed"]) == (3, 0, 3)

    for spec, group in ((str(STYLES[0]), contents[:2]), (blend, contents[:1])):
        reference = tmp_path / f"reference_{len(group)}"
        result = run_module("arbitrary_style.stylize", ["--content", *group, "--styles", spec,
                                                        "--output", f"{reference}/", *FLAGS],
                            weights_home)
        assert result.returncode == 0, result.stderr
        for content in group:
            ours = output / transforms.output_name(str(content), None, "png", spec)
            np.testing.assert_array_equal(load(ours),
                                          load(reference / f"{content.stem}_stylized.png"))
    assert len(outputs(output)) == 3  # contents[0] twice, under two names
    failures = [json.loads(line)
                for line in (output / transforms.FAILURES_FILE).read_text().splitlines()]
    errors = {f["input"]: f["error"] for f in failures}
    assert sorted(errors) == sorted([str(folder / "empty.jpg"), str(tmp_path / "missing.jpg"),
                                     str(contents[2]), "one column"])
    assert "not found" in errors[str(tmp_path / "missing.jpg")]
    assert "could not be read" in errors[str(contents[2])]
    assert "expected content,style" in errors["one column"]


def test_tiles_and_stroke_scale_as_in_the_stylize_command(weights_home, tmp_path):
    """--tile and --stroke_scale reach the pipeline as in the stylize command: the same
    pixels, and the stylize command's JSON says the image was tiled."""
    photos = make_folder(tmp_path / "photos", 2, [(600, 450)])
    flags = ["--styles", STYLES[0], "--content_size", "0", "--tile", "256",
             "--stroke_scale", "1.5"]
    summary = run_batch(["--input", photos, "--output", tmp_path / "out", *flags], weights_home)
    assert (summary["done"], summary["failed"]) == (2, 0)
    result = run_module("arbitrary_style.stylize", ["--content", photos, "--output",
                                                    f"{tmp_path / 'reference'}/", *flags,
                                                    "--json"], weights_home)
    assert result.returncode == 0, result.stderr
    entries = json.loads(result.stdout)["outputs"]
    assert all(entry["tiles"] > 1 for entry in entries)
    for photo in sorted(photos.iterdir()):
        np.testing.assert_array_equal(
            load(tmp_path / "out" / f"{photo.name}.png"),
            load(tmp_path / "reference" / f"{photo.stem}_stylized.png"))


def test_output_names():
    assert transforms.output_name("/in/a/x.jpg", "/in/", "png") == "a/x.jpg.png"
    listed = transforms.output_name("gs://b/p/x.jpg", None, "webp")
    assert listed.startswith("x-") and listed.endswith(".webp")
    assert listed != transforms.output_name("gs://b/q/x.jpg", None, "webp")
    assert transforms.output_name("/x.jpg", None, "png", "s.jpg") != transforms.output_name(
        "/x.jpg", None, "png", "t.jpg")
    assert transforms.glob_root("gs://b/photos/*/x*.jpg") == "gs://b/photos/"


def test_help_is_fast_and_imports_neither_beam_nor_tensorflow():
    code = ("import sys, runpy; sys.argv = ['batch', '--help']\n"
            "try:\n    runpy.run_module('arbitrary_style.batch', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "print(sorted({'apache_beam', 'tensorflow'} & set(sys.modules)), file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert "--style_per_input" in result.stdout and result.stderr.strip() == "[]"


class FakeRemoteFileSystem(LocalFileSystem):
    """`fake://PATH` (like gs://BUCKET/KEY), stored at the local /PATH: the code paths of
    remote URIs (scratch copies, temporary object + rename), run in-process."""

    PREFIX = "fake://"

    @classmethod
    def scheme(cls):
        return "fake"

    @classmethod
    def uri(cls, local):
        return cls.PREFIX + str(local).lstrip("/")

    def _local(self, path):
        return "/" + path.removeprefix(self.PREFIX) if path.startswith(self.PREFIX) else path

    def _remote(self, metadata):
        return FileMetadata(self.uri(metadata.path), metadata.size_in_bytes,
                            metadata.last_updated_in_seconds)

    def _list(self, dir_or_prefix):
        return map(self._remote, super()._list(self._local(dir_or_prefix)))

    def metadata(self, path):
        return self._remote(super().metadata(self._local(path)))

    def create(self, path, *args, **kwargs):
        return super().create(self._local(path), *args, **kwargs)

    def open(self, path, *args, **kwargs):
        return super().open(self._local(path), *args, **kwargs)

    def exists(self, path):
        return super().exists(self._local(path))

    def rename(self, sources, destinations):
        super().rename(list(map(self._local, sources)), list(map(self._local, destinations)))

    def delete(self, paths):
        for path in paths:
            os.remove(self._local(path))


def test_remote_uris_from_a_list_file(tmp_path, weights_home, monkeypatch):
    """A list of fake:// URIs stylized in-process into a fake:// output, through
    FileSystems only; equal to the pipeline's Stylizer on the local files."""
    import apache_beam as beam

    from arbitrary_style import backends, image_io
    from arbitrary_style.weights import store

    monkeypatch.setenv("ARBITRARY_STYLE_HOME", str(weights_home))
    photos = make_folder(tmp_path / "photos", 3, [(64, 80)])
    remote = FakeRemoteFileSystem.uri
    sources = [remote(p) for p in sorted(photos.iterdir())] + [remote(photos / "gone.jpg")]
    (tmp_path / "list.txt").write_text("# photos\n" + "\n".join(sources + sources[:1]) + "\n")
    output = tmp_path / "out"
    output.mkdir()
    stale = output / f"{atomic.PREFIX}1-0-new-x.png"  # left by a killed writer
    stale.write_bytes(b"")
    model = backends.load(store.resolve_weights(None))
    options = {"strength": 1.0, "content_size": 0, "style_size": 256, "preserve_colors": True,
               "tile": 0, "stroke_scale": 1.0}
    job = {"output": remote(output), "format": "png", "backend": "auto", "weights": None,
           "processes": 1, "worker_threads": 0, "max_memory": None, "max_pixels": 10**8,
           "style_per_input": None,
           "input": remote(tmp_path / "list.txt"),
           "root": None, "is_list": True, "options": options,
           "style": transforms.style_of(model, remote(STYLES[0]), 256, 10**8)}
    transforms.remove_temporaries(job["output"])
    assert not stale.exists()

    beam_pipeline = beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"]))
    transforms.build(beam_pipeline, job)
    result = beam_pipeline.run()
    result.wait_until_finish()
    assert counters(result) == {"done": 3, "skipped": 0, "failed": 1,  # the repeated line once
                                "unwritten": 0}
    vector = style_vector_of(model, [STYLES[0]])
    for source in sources[:3]:
        name = transforms.output_name(source, None, "png")
        content = image_io.load_image(photos / source.rsplit("/", 1)[1])
        expected = stylizer(model, vector, **options).array(content)
        image_io.save_image(expected, tmp_path / name)
        np.testing.assert_array_equal(load(output / name), load(tmp_path / name))
    assert len(outputs(output)) == 3 and temporaries(output) == []
    failures = [json.loads(line) for line in (output / transforms.FAILURES_FILE).open()]
    assert [f["input"] for f in failures] == [sources[3]]
    assert failures[0]["error"].startswith(f"{sources[3]}: cannot read (")  # not the scratch copy


@pytest.mark.parametrize("args, processes", [
    (["--runner=DirectRunner"], 1),
    (["--runner=DirectRunner", "--direct_running_mode=multi_processing",
      "--direct_num_workers=2"], 2),
    (["--runner=DirectRunner", "--direct_running_mode=multi_processing",
      "--direct_num_workers=0"], 0),
    (["--runner=DataflowRunner"], 0),
    (["--runner=FlinkRunner"], 1),
])
def test_processes_per_machine(args, processes):
    assert processes_per_machine(PipelineOptions(args)) == processes


def test_worker_resources_share_the_machine(monkeypatch):
    """Threads and memory budget per worker: the CPUs and memory shared among the worker
    processes of a machine; given values win."""
    from arbitrary_style import memory

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    monkeypatch.setattr(memory, "available_memory", lambda: 10 * 2**30)
    budget = int(10 * 2**30 * memory.DEFAULT_MEMORY_SHARE)
    assert transforms.worker_resources(1) == (0, budget)  # all CPUs: onnxruntime's default
    assert transforms.worker_resources(2) == (4, budget // 2)
    assert transforms.worker_resources(0) == (1, budget // 8)  # one process per CPU
    assert transforms.worker_resources(16) == (1, budget // 16)
    assert transforms.worker_resources(2, threads=3, budget=123) == (3, 123)


# --- reliability round 3 (issue 24) ----------------------------------------------------

def run_in_process(job_changes, weights_home, monkeypatch):
    """Runs a job on the in-process DirectRunner (the --styles vector of STYLES[0],
    64-pixel content); its (counters, failures.jsonl entries by input)."""
    import apache_beam as beam

    from arbitrary_style import backends
    from arbitrary_style.weights import store

    monkeypatch.setenv("ARBITRARY_STYLE_HOME", str(weights_home))
    model = backends.load(store.resolve_weights(None))
    options = {"strength": 1.0, "content_size": 64, "style_size": 256,
               "preserve_colors": False, "tile": 0, "stroke_scale": 1.0}
    job = {"format": "png", "backend": "auto", "weights": None, "processes": 1,
           "worker_threads": 0, "max_memory": None, "max_pixels": 10**8,
           "style_per_input": None, "input": None, "root": None, "is_list": False,
           "options": options, "style": transforms.style_of(model, str(STYLES[0]), 256,
                                                            10**8), **job_changes}
    beam_pipeline = beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"]))
    transforms.build(beam_pipeline, job)
    result = beam_pipeline.run()
    result.wait_until_finish()
    failures_file = pathlib.Path(job["output"]) / transforms.FAILURES_FILE
    failures = ([json.loads(line) for line in failures_file.read_text().splitlines()]
                if failures_file.is_file() else [])
    return counters(result), {f["input"]: f["error"] for f in failures}


def test_names_and_lines_that_are_not_utf8_are_listed_failures(tmp_path, weights_home,
                                                                 monkeypatch):
    """A file named bad\\xffname.jpg in the folder, a list line and a CSV row holding byte
    0xff: each is one listed failure and the rest is stylized (before: the whole job
    aborted with a traceback). file:// URIs in a list name local files."""
    photos = make_folder(tmp_path / "photos", 2, [(64, 64)])
    good = sorted(photos.iterdir())
    (photos / os.fsdecode(b"bad\xffname.jpg")).write_bytes(good[0].read_bytes())
    totals, failures = run_in_process({"input": f"{photos}/*", "root": f"{photos}/",
                                       "output": str(tmp_path / "folder_out")},
                                      weights_home, monkeypatch)
    assert (totals["done"], totals["failed"]) == (2, 1)
    assert list(failures) == [f"{photos}/bad\\xffname.jpg"]
    assert "not UTF-8" in failures[f"{photos}/bad\\xffname.jpg"]

    listing = tmp_path / "list.txt"
    listing.write_bytes(b"\n".join([os.fsencode(good[0]), b"/photos/\xff.jpg",
                                    b"file://" + os.fsencode(good[1])]) + b"\n")
    totals, failures = run_in_process({"input": str(listing), "is_list": True,
                                       "output": str(tmp_path / "list_out")},
                                      weights_home, monkeypatch)
    assert (totals["done"], totals["failed"]) == (2, 1), failures
    assert list(failures) == ["/photos/\\xff.jpg"]
    assert "not UTF-8" in failures["/photos/\\xff.jpg"]

    table = tmp_path / "pairs.csv"
    table.write_bytes(b"content,style\n" + os.fsencode(good[0]) + b"," +
                      os.fsencode(STYLES[0]) + b"\n/x\xff.jpg," + os.fsencode(STYLES[0]) + b"\n")
    totals, failures = run_in_process({"style_per_input": str(table),
                                       "output": str(tmp_path / "csv_out")},
                                      weights_home, monkeypatch)
    assert (totals["done"], totals["failed"]) == (1, 1), failures
    assert "not UTF-8" in next(iter(failures.values()))


def test_outputs_that_cannot_be_written_are_counted(tmp_path, weights_home, monkeypatch):
    """An output whose directory cannot be made and a failures.jsonl that cannot be
    written: both counted as unwritten (the exit status is then 1, see `outcome`)."""
    photos = make_folder(tmp_path / "photos", 1, [(64, 64)])
    (photos / "a").mkdir()
    (photos / "photo_00.png").rename(photos / "a" / "x.png")
    output = tmp_path / "out"
    output.mkdir()
    (output / "a").write_text("a file where the output directory should be\n")
    (output / transforms.FAILURES_FILE).mkdir()
    totals, _ = run_in_process({"input": f"{photos}/*/*.png", "root": f"{photos}/",
                                "output": str(output)}, weights_home, monkeypatch)
    assert totals == {"done": 0, "skipped": 0, "failed": 1, "unwritten": 2}


@pytest.mark.parametrize("totals, status, message", [
    ({"done": 3, "skipped": 0, "failed": 1, "unwritten": 0}, 0, None),
    ({"done": 0, "skipped": 4, "failed": 1, "unwritten": 0}, 0, None),  # a finished re-run
    ({"done": 0, "skipped": 0, "failed": 16, "unwritten": 0}, 1, "nothing was written"),
    ({"done": 0, "skipped": 0, "failed": 0, "unwritten": 0}, 1, "holds no images"),
    ({"done": 5, "skipped": 0, "failed": 1, "unwritten": 1}, 1, "could not be written"),
])
def test_exit_status_tells_the_truth(totals, status, message):
    code, error = outcome(totals, "out/failures.jsonl")
    assert code == status
    assert (error is None) if message is None else (message in error)


def test_file_uris_are_local_paths():
    assert _absolute("file:///data/photos/") == "/data/photos"
    assert _absolute("file://localhost/data/a%20b.jpg") == "/data/a b.jpg"
    assert transforms.as_uri(pathlib.Path("file:///data/s.jpg")) == "/data/s.jpg"
    assert transforms.as_uri(pathlib.Path("gs://b/s.jpg")) == "gs://b/s.jpg"


def test_all_inputs_failing_exits_1_and_a_damaged_settings_file_is_one_line(
        tmp_path, weights_home):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.jpg", "b.jpg"):
        (photos / name).write_text("not an image\n")
    output = tmp_path / "out"
    args = ["--input", photos, "--styles", STYLES[0], "--output", output]
    result = run_module("arbitrary_style.batch", args, weights_home)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(
        "error: nothing was written: all 2 inputs failed")
    (output / transforms.SETTINGS_FILE).write_text("{broken")
    result = run_module("arbitrary_style.batch", args, weights_home)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(
        f"error: {output / transforms.SETTINGS_FILE} is damaged")


def test_a_tuned_style_by_name_blends_like_an_image(tmp_path, monkeypatch):
    """`--styles @NAME:W,...` (and a CSV's style column) take tuned styles in batch jobs as in
    the stylize command: the same blend of the stored vector with the images' vectors, and
    of the stored norm offsets."""
    from arbitrary_style import backends, image_io, norm_params, tuned_styles
    from arbitrary_style.errors import UserError
    from arbitrary_style.style_vectors import blend_style_vectors
    from arbitrary_style.weights import builtin

    monkeypatch.setenv("ARBITRARY_STYLE_HOME", str(tmp_path / "home"))
    model = backends.load(builtin.directory())
    stored = np.linspace(-1, 1, 100).astype(np.float32)
    offsets = {key: (np.full(channels, 0.2, np.float32), np.full(channels, -0.1, np.float32))
               for key, channels in norm_layers(model.config.alpha)}
    tuned_styles.save("mine", stored, weights="magenta-mobile", details={},
                      norm_offsets=offsets)
    vector, got_offsets = transforms.style_of(model, f"@mine:1,{STYLES[0]}:3", 256, 10**8)
    image_vector = model.predict_style(image_io.load_image(STYLES[0]))
    np.testing.assert_allclose(vector, blend_style_vectors([stored, image_vector], [1, 3]),
                               rtol=1e-6)
    np.testing.assert_allclose(got_offsets, 0.25 * norm_params.flatten(offsets, model.config.alpha),
                               atol=1e-4)
    assert transforms.style_of(model, str(STYLES[0]), 256, 10**8)[1] is None
    with pytest.raises(UserError, match="no tuned style 'other'"):
        transforms.style_of(model, "@other", 256, 10**8)


def test_batch_outputs_carry_a_tuned_styles_norm_offsets(tmp_path, weights_home,
                                                          monkeypatch):
    """A tuned style with per-layer offsets, given as --styles and in a CSV: the outputs
    are the pipeline's with those offsets, not the vector alone."""
    from arbitrary_style import backends, image_io, pipeline, tuned_styles
    from arbitrary_style.weights import store

    monkeypatch.setenv("ARBITRARY_STYLE_HOME", str(weights_home))
    model = backends.load(store.resolve_weights(None))
    offsets = {key: (np.full(channels, 0.3, np.float32), np.zeros(channels, np.float32))
               for key, channels in norm_layers(model.config.alpha)}
    tuned_styles.save("batch_normed", np.linspace(-1, 1, 100), weights="magenta-mobile",
                      details={}, norm_offsets=offsets)
    try:
        photos = make_folder(tmp_path / "photos", 1, [(64, 64)])
        (photo,) = sorted(photos.iterdir())
        style = transforms.style_of(model, "@batch_normed", 256, 10**8)
        totals, _ = run_in_process({"input": f"{photos}/*", "root": f"{photos}/",
                                    "output": str(tmp_path / "out"), "style": style},
                                   weights_home, monkeypatch)
        table = tmp_path / "pairs.csv"
        table.write_text(f"content,style\n{photo},@batch_normed\n")
        csv_totals, _ = run_in_process({"style_per_input": str(table),
                                        "output": str(tmp_path / "csv_out")},
                                       weights_home, monkeypatch)
    finally:
        tuned_styles.remove("batch_normed")
    assert totals["done"] == 1 and csv_totals["done"] == 1
    options = pipeline.StylizeOptions(content_size=64)
    expected = pipeline.Stylizer(model, style[0], options, style[1]).image(photo)[0]
    vector_only = pipeline.Stylizer(model, style[0], options).image(photo)[0]
    for output in (tmp_path / "out").glob("*.png"), (tmp_path / "csv_out").glob("*.png"):
        (path,) = list(output)
        written = image_io.load_image(path)
        assert np.abs(written - expected).max() <= 1 / 255 + 1e-6
        assert np.abs(written - vector_only).mean() > 4 / 255
