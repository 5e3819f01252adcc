"""The Beam pipeline of `python -m arbitrary_style.batch`: inputs -> stylized files.

Everything here runs on Beam workers as well as in the launcher, so it is importable (no
`__main__` classes) and reads and writes through Beam's FileSystems (local paths, and
gs:// or s3:// where their extras are installed).
"""

import contextlib
import csv
import hashlib
import json
import os
import posixpath
import re
import shutil
import tempfile
import urllib.parse
import uuid

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.utils import shared

from arbitrary_style import atomic, backends, image_io, memory, pipeline, specs
from arbitrary_style.errors import UserError
from arbitrary_style.weights import store
from arbitrary_style.weights.registry import DEFAULT_WEIGHTS

NAMESPACE = "arbitrary_style"
# The job's Beam counters: inputs done, skipped (their output exists) and failed; and the
# files that could not be written (an output, or failures.jsonl: disk full, no permission).
COUNTERS = ("done", "skipped", "failed", "unwritten")
FAILURES_FILE = "failures.jsonl"
SETTINGS_FILE = "batch_settings.json"
FAILED = "failed"
SINGLE_STYLE = ""  # The side-input key of the one --styles style.
_GLOB_CHARS = "*?["
_RAW = CompressionTypes.UNCOMPRESSED


def is_local(uri):
    return FileSystems.get_scheme(uri) is None


def from_file_uri(uri):
    """A file:// URI (file:///x, or file:/x as pathlib leaves it) as the local path it names
    (Beam's FileSystems have no file:// scheme); anything else as it is."""
    if not uri.startswith("file:"):
        return uri
    parts = urllib.parse.urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        return uri
    return urllib.parse.unquote(parts.path)


def join(base, *parts):
    return os.path.join(base, *parts) if is_local(base) else FileSystems.join(base, *parts)


def _basename(uri):
    return posixpath.basename(uri.rstrip("/"))


def is_image_name(uri):
    """A non-hidden name with an image extension (what the stylize command reads)."""
    name = _basename(uri)
    extension = os.path.splitext(name)[1].lower()
    return not name.startswith(".") and extension in image_io.READ_EXTENSIONS


def has_wildcards(pattern):
    return any(c in pattern for c in _GLOB_CHARS)


def glob_root(pattern):
    """The directory of a glob's part before its first wildcard: names are relative to it."""
    cut = min((pattern.index(c) for c in _GLOB_CHARS if c in pattern), default=len(pattern))
    return pattern[:cut].rsplit("/", 1)[0] + "/"


def output_name(source, root, fmt, style_spec=None):
    """The output's name under --output: deterministic, one per input (and style).

    Under a directory or glob `root`: the input's path relative to it plus `.fmt`
    (photos/a/x.jpg -> a/x.jpg.png). From a list or CSV (no root): the input's stem and
    12 hex digits of the sha256 of its full URI (and style spec): x-0123456789ab.png.
    """
    if root is not None:
        return f"{source[len(root):].lstrip('/')}.{fmt}"
    key = source if style_spec is None else f"{source}\n{style_spec}"
    stem = os.path.splitext(_basename(source))[0]
    return f"{stem}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.{fmt}"


def parse_pair(line):
    """A `content,style` CSV row (style: the --styles syntax) -> (content, style), or None
    for a blank line or the header."""
    row = next(csv.reader([line]), [])
    if not row or not "".join(row).strip() or [c.strip() for c in row] == ["content", "style"]:
        return None
    if len(row) != 2 or not all(cell.strip() for cell in row):
        raise UserError(f"--style_per_input row {line!r}: expected content,style")
    return from_file_uri(row[0].strip()), row[1].strip()


def failure(source, error):
    """A failures.jsonl line."""
    return json.dumps({"input": source, "error": str(error)})


def _failed(source, error):
    """Counts a failed input; its failures.jsonl line as a FAILED output."""
    beam.metrics.Metrics.counter(NAMESPACE, "failed").inc()
    return beam.pvalue.TaggedOutput(FAILED, failure(source, error))


def _parse_pair_or_fail(line):
    try:
        pair = parse_pair(line)
    except UserError as error:
        yield _failed(line, error)
        return
    if pair is not None:
        yield pair


def _decode_or_fail(line):
    """A list or CSV line read as bytes -> its text; a line that is not UTF-8 is a failure
    (Beam's own text reader would abort the whole job on it)."""
    try:
        yield line.decode("utf-8")
    except UnicodeDecodeError as error:
        shown = line.decode("utf-8", "backslashreplace")
        yield _failed(shown, f"{shown}: not UTF-8 text ({error.reason} at byte {error.start})")


def _image_path_or_fail(metadata):
    """A matched file's path if it names an image; a name that is not UTF-8 is a failure
    (Beam carries names as UTF-8 text: it would abort the whole job on it)."""
    path = metadata.path
    if not is_image_name(path):
        return
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(path).decode("utf-8", "backslashreplace")
        yield _failed(shown, f"{shown}: the file name is not UTF-8, which Beam cannot carry; "
                             "rename the file")
        return
    yield path


@contextlib.contextmanager
def local_file(uri):
    """A local path holding the file of a path or FileSystems URI (a scratch copy for a
    URI); the UserErrors raised inside name the URI, not the copy."""
    if is_local(uri):
        yield uri
        return
    with tempfile.TemporaryDirectory() as scratch:
        local = os.path.join(scratch, _basename(uri) or "image")
        try:
            with FileSystems.open(uri, compression_type=_RAW) as source, \
                    open(local, "wb") as target:
                shutil.copyfileobj(source, target)
        except Exception as error:  # BeamIOError and the filesystems' own errors
            raise UserError(f"{uri}: cannot read ({' '.join(str(error).split())})") from None
        try:
            yield local
        except UserError as error:
            raise UserError(str(error).replace(local, uri)) from None


def read_image(uri, max_pixels):
    """Float [H,W,3] of a local path or a FileSystems URI."""
    with local_file(uri) as path:
        return image_io.load_image(path, max_pixels=max_pixels)


def _publish(local, uri):
    """Copies a finished local file to a FileSystems URI under a temporary name, then renames
    it: readers never see a partial object."""
    directory, name = uri.rsplit("/", 1)
    temporary = f"{directory}/{atomic.PREFIX}{uuid.uuid4().hex}-new-{name}"
    with open(local, "rb") as source, FileSystems.create(temporary, compression_type=_RAW) \
            as target:
        shutil.copyfileobj(source, target)
    FileSystems.rename([temporary], [uri])


def write_image(image, uri):
    """Atomically writes an image (format from the extension) to a path or URI. Stale
    temporary files are removed before and after the job (`remove_temporaries`), not at
    each write: a scan per write is quadratic in the number of outputs of a directory."""
    if is_local(uri):
        image_io.save_image(image, uri, clean=False)
        return
    with tempfile.TemporaryDirectory() as scratch:
        local = os.path.join(scratch, _basename(uri))
        image_io.save_image(image, local, clean=False)
        _publish(local, uri)


def write_text(text, uri):
    """Atomically writes a text file to a path or URI (UserError when it cannot)."""
    try:
        if is_local(uri):
            os.makedirs(os.path.dirname(uri) or ".", exist_ok=True)
            with atomic.atomic_file(uri) as temporary:
                _write_local_text(temporary, text)
            return
        with tempfile.TemporaryDirectory() as scratch:
            local = os.path.join(scratch, _basename(uri))
            _write_local_text(local, text)
            _publish(local, uri)
    except Exception as error:  # OSError, BeamIOError and the filesystems' own errors
        raise UserError(f"{uri}: cannot write ({' '.join(str(error).split())})") from None


def _write_local_text(path, text):
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def read_text(uri):
    with FileSystems.open(uri, compression_type=_RAW) as handle:
        return handle.read().decode("utf-8")


def remove_temporaries(output):
    """Removes the temporary files that killed writers left under `output`: for local
    outputs those whose process is gone (atomic.clean_stale); for remote ones all of them
    (one job per --output at a time)."""
    if is_local(output):
        for directory, _, _ in os.walk(output):
            atomic.clean_stale(directory)
        return
    matches = FileSystems.match([join(output, "**")])[0].metadata_list
    stale = [m.path for m in matches if _basename(m.path).startswith(atomic.PREFIX)]
    if stale:
        FileSystems.delete(stale)


def as_uri(path):
    """A `parse_styles` path as the URI it was (pathlib turns gs://b/x into gs:/b/x); a
    file:// URI as its local path."""
    text = from_file_uri(str(path))
    scheme = re.match(r"([a-z][a-z0-9+.-]*):/(?!/)", text)
    return f"{scheme[1]}://{text[len(scheme[0]):]}" if scheme else text


def style_of(model, spec, style_size, max_pixels, weights_name=None):
    """(blended vector [100], norm offsets [M] or None) of a --styles spec (PATH[:W],...;
    paths or URIs; @NAME tuned styles of the weights `weights_name`, default the default
    weights): what `pipeline.Stylizer` takes."""
    styles, weights_name = specs.parse_styles(spec), weights_name or DEFAULT_WEIGHTS
    vector = pipeline.style_vector(
        model, styles, weights_name=weights_name, style_size=style_size,
        read_image=lambda path: read_image(as_uri(path), max_pixels))
    return vector, pipeline.norm_offsets(model, styles, weights_name=weights_name)


_MODELS = shared.Shared()


def worker_resources(processes, threads=0, budget=None):
    """(onnxruntime threads, memory budget in bytes) of one of `processes` worker processes
    on this machine (0: one per CPU). `threads` 0: all the CPUs for a lone process, else the
    CPUs shared out; `budget` None: --max_memory's default share of the available memory,
    shared out."""
    cpus = len(os.sched_getaffinity(0))
    processes = processes or cpus
    if not threads:
        threads = 0 if processes == 1 else max(1, cpus // processes)
    if budget is None:
        budget = memory.budget(None, shares=processes)
    return threads, budget


def _load_model(weights, backend, threads):
    return backends.load(store.resolve_weights(weights), backend, threads or None)


class _ModelFn(beam.DoFn):
    """A DoFn holding the model, loaded once per worker process (shared by its threads).

    `model_args` are (weights name or directory, backend, worker processes per machine (0:
    one per CPU), --worker_threads, --max_memory in bytes or None); see `worker_resources`."""

    def __init__(self, model_args):
        self._model_args = tuple(model_args)

    def setup(self):
        weights, backend, processes, threads, budget = self._model_args
        threads, self.budget = worker_resources(processes, threads, budget)
        self.model = _MODELS.acquire(lambda: _load_model(weights, backend, threads),
                                     tag=repr((weights, backend, threads)))


class StyleVectorFn(_ModelFn):
    """Style spec -> (spec, (vector, norm offsets)); a spec whose images cannot be read
    goes to FAILED."""

    def __init__(self, model_args, style_size, max_pixels):
        super().__init__(model_args)
        self._style_size, self._max_pixels = style_size, max_pixels

    def process(self, spec):
        try:
            yield spec, style_of(self.model, spec, self._style_size, self._max_pixels,
                                 self._model_args[0])
        except UserError as error:
            yield beam.pvalue.TaggedOutput(FAILED, failure(spec, error))


class StylizeFn(_ModelFn):
    """(input, output, style key) -> the stylized output file, written once.

    Outputs that exist are skipped (a re-run resumes); an input that fails for any reason
    goes to FAILED. `options` are the job's `pipeline.StylizeOptions` fields (the budget
    is the worker's own: see `worker_resources`).
    """

    def __init__(self, model_args, options, max_pixels):
        super().__init__(model_args)
        self._options, self._max_pixels = dict(options), max_pixels

    def setup(self):
        super().setup()
        self.options = pipeline.StylizeOptions(**self._options, max_memory=self.budget,
                                               max_pixels=self._max_pixels)
        self._counters = {name: beam.metrics.Metrics.counter(NAMESPACE, name)
                          for name in COUNTERS}

    def process(self, job, styles):
        source, target, style_key = job
        if FileSystems.exists(target):
            self._counters["skipped"].inc()
            return
        try:
            if style_key not in styles:
                raise UserError(f"style {style_key!r} could not be read (see its own entry)")
            stylized = self._stylize(source, *styles[style_key])
            try:
                write_image(stylized, target)
            except Exception:
                self._counters["unwritten"].inc()
                raise
        except Exception as error:  # noqa: BLE001 (dead letter: the job goes on)
            self._counters["failed"].inc()
            message = error if isinstance(error, UserError) else (
                f"{source}: unexpected {type(error).__name__}: {error}")
            yield beam.pvalue.TaggedOutput(FAILED, failure(source, message))
            return
        self._counters["done"].inc()
        yield target

    def _stylize(self, source, vector, norm_offsets):
        with local_file(source) as path:
            return pipeline.Stylizer(self.model, vector, self.options,
                                     norm_offsets).image(path)[0]


def _write_failures(lines, uri):
    """Writes failures.jsonl; counts it as unwritten when it cannot be written."""
    try:
        write_text("".join(f"{line}\n" for line in sorted(lines)), uri)
    except UserError:
        beam.metrics.Metrics.counter(NAMESPACE, "unwritten").inc()


def _read_lines(pipeline, uri):
    """(lines, failures) of a text file: lines not in UTF-8 are failures."""
    lines = (pipeline | "ReadLines" >> beam.io.ReadFromText(uri, coder=beam.coders.BytesCoder())
             | "Decode" >> beam.FlatMap(_decode_or_fail).with_outputs(FAILED, main="text"))
    return lines.text, lines[FAILED]


def _image_paths(pipeline, pattern):
    """(image paths, failures) of a glob."""
    paths = (pipeline | "List" >> beam.Create([pattern]) | "Match" >> fileio.MatchAll()
             | "Images" >> beam.FlatMap(_image_path_or_fail).with_outputs(FAILED, main="paths"))
    return paths.paths, paths[FAILED]


def _per_input_jobs(pipeline, job, model_args):
    """(jobs, styles, failures) from the --style_per_input CSV: one style (`style_of`) per
    distinct style spec, computed on the workers."""
    lines, undecoded = _read_lines(pipeline, job["style_per_input"])
    rows = (lines | "ParsePairs" >> beam.FlatMap(_parse_pair_or_fail).with_outputs(
        FAILED, main="pairs"))
    pairs = rows.pairs | "DistinctPairs" >> beam.Distinct()
    styles = (pairs | "Styles" >> beam.Map(lambda pair: pair[1])
              | "DistinctStyles" >> beam.Distinct()
              | "StyleVectors" >> beam.ParDo(StyleVectorFn(
                  model_args, job["options"]["style_size"], job["max_pixels"]))
              .with_outputs(FAILED, main="styles"))
    output, fmt = job["output"], job["format"]
    jobs = pairs | "Plan" >> beam.Map(lambda pair: (
        pair[0], join(output, output_name(pair[0], None, fmt, pair[1])), pair[1]))
    return jobs, styles.styles, (undecoded, rows[FAILED], styles[FAILED])


def _single_style_jobs(pipeline, job):
    """(jobs, the --styles style, failures) from --input: a folder, a glob or a list."""
    if job["is_list"]:
        lines, failures = _read_lines(pipeline, job["input"])
        sources = (lines | "Strip" >> beam.Map(lambda line: from_file_uri(line.strip()))
                   | "SkipBlank" >> beam.Filter(lambda line: line and not line.startswith("#")))
    else:
        sources, failures = _image_paths(pipeline, job["input"])
    output, fmt, root = job["output"], job["format"], job["root"]
    jobs = (sources | "Distinct" >> beam.Distinct()
            | "Plan" >> beam.Map(lambda source: (
                source, join(output, output_name(source, root, fmt)), SINGLE_STYLE)))
    styles = pipeline | "StyleVector" >> beam.Create([(SINGLE_STYLE, job["style"])])
    return jobs, styles, (failures,)


def build(pipeline, job):
    """Adds the stylization of `job` (a dict, see `__main__.plan`) to `pipeline`."""
    model_args = (job["weights"], job["backend"], job["processes"], job["worker_threads"],
                  job["max_memory"])
    if job["style_per_input"]:
        jobs, styles, failures = _per_input_jobs(pipeline, job, model_args)
    else:
        jobs, styles, failures = _single_style_jobs(pipeline, job)
    results = (jobs | "Spread" >> beam.Reshuffle()
               | "Stylize" >> beam.ParDo(StylizeFn(model_args, job["options"],
                                                   job["max_pixels"]),
                                         beam.pvalue.AsDict(styles))
               .with_outputs(FAILED, main="written"))
    _ = ((results[FAILED], *failures) | "AllFailures" >> beam.Flatten()
         | "CollectFailures" >> beam.combiners.ToList()
         | "WriteFailures" >> beam.Map(_write_failures, join(job["output"], FAILURES_FILE)))
