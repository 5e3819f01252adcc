"""Stylize many images on Apache Beam (DirectRunner by default; Dataflow, Flink, Spark).

  python -m arbitrary_style.batch --input photos/ --styles a.jpg:0.7,b.jpg --output out/
  python -m arbitrary_style.batch --style_per_input pairs.csv --output gs://bucket/out \\
      --runner DataflowRunner --project P --region R --temp_location gs://bucket/tmp

`--styles` (the stylize command's syntax, tuned `@NAME` styles included) gives one
blended style vector for every input. `--output` is the output directory or URI prefix
(required). `--input` is a directory, a glob or one image (outputs are named by the input's path
relative to the directory: a/x.jpg -> OUTPUT/a/x.jpg.png), or a text file of paths/URIs,
one a line (outputs: x-<12 hex of sha256(URI)>.png). `--style_per_input` is a CSV of
content,style rows (style in the --styles syntax). Paths inside a list or CSV are used as
written: give absolute paths or URIs when the workers run elsewhere. Outputs that exist are
skipped, so a re-run resumes; inputs that fail are listed in OUTPUT/failures.jsonl. Any
other flag is a Beam pipeline option (--runner, --direct_num_workers, --project, ...).
A --weights directory must be readable by the workers. --max_memory is per worker process
(by default each gets its share of 80% of its machine's available memory); larger images
are tiled as in the stylize command.
"""

import json
import logging
import os
import pathlib
import sys
import time

from absl import app, flags

from arbitrary_style import backends, cli, common_flags, memory, quiet_tensorflow, specs
from arbitrary_style.errors import UserError

FLAGS = flags.FLAGS
FORMATS = ("png", "jpg", "webp")
_BEAM_ARGS = []  # The pipeline options split off the command line (see `split_argv`).


def define_flags():
    """The command's flags (defined only when run as `__main__`)."""
    common_flags.define("styles", "output", "json", *common_flags.STYLIZE_OPTIONS)
    flags.DEFINE_string("input", None, "Content images: a directory, a glob (quote it), one "
                        "image, or a text file listing paths/URIs one per line (local, gs://, "
                        "s3://...).")
    flags.DEFINE_string("style_per_input", None, "Instead of --input/--styles: a CSV of "
                        "content,style rows (style in the --styles syntax), one output each.")
    flags.DEFINE_enum("format", "png", FORMATS, "Output image format.")
    flags.DEFINE_integer("worker_threads", 0, "onnxruntime threads per worker process. "
                         "0 = auto: the worker machine's CPUs shared among its worker "
                         "processes (the DirectRunner's --direct_num_workers; on Dataflow one "
                         "per vCPU); all of them for a lone process.", lower_bound=0)


def _is_ours(name):
    if name in FLAGS:
        return True
    return name.startswith("no") and name[2:] in FLAGS and FLAGS[name[2:]].boolean


def split_argv(argv):
    """(this command's argv, the Beam pipeline options): flags that absl does not define are
    pipeline options; the command takes no positional arguments, so a bare word after an
    unknown `--flag` is that flag's value."""
    ours, beam_args = [argv[0]], []
    arguments = cli.undash_flag_names(argv)[1:]
    index = 0
    while index < len(arguments):
        arg = arguments[index]
        index += 1
        if arg == "--" or not arg.startswith("-"):
            ours.append(arg)
            continue
        name, equals, _ = arg.lstrip("-").partition("=")
        if _is_ours(name):
            target = ours
            takes_value = not equals and name in FLAGS and not FLAGS[name].boolean
        else:
            target = beam_args
            takes_value = (not equals and index < len(arguments)
                           and not arguments[index].startswith("-"))
        target.append(arg)
        if takes_value and index < len(arguments):
            target.append(arguments[index])
            index += 1
    return ours, beam_args


def _with_defaults(beam_args):
    """The DirectRunner unless --runner is given; Beam's INFO and WARNING lines (launcher and
    workers) hidden unless --verbose."""
    defaults = {"runner": "DirectRunner"}
    if not (FLAGS.verbose or os.environ.get(quiet_tensorflow.VERBOSE_VARIABLE)):
        logging.getLogger("apache_beam").setLevel(logging.ERROR)
        defaults["default_sdk_harness_log_level"] = "ERROR"
    given = {arg.lstrip("-").partition("=")[0] for arg in beam_args}
    return [*beam_args, *(f"--{k}={v}" for k, v in defaults.items() if k not in given)]


def pipeline_options(beam_args):
    """PipelineOptions from the split-off flags; a flag Beam does not know is an error."""
    from apache_beam.options.pipeline_options import PipelineOptions

    given = PipelineOptions(beam_args)
    try:
        unknown = (set(given.get_all_options(retain_unknown_options=True))
                   - set(given.get_all_options()))
    except SystemExit:  # argparse has printed why
        raise UserError(f"bad Beam pipeline option in: {' '.join(beam_args)}") from None
    if unknown:
        raise UserError(f"unknown flag --{', --'.join(sorted(unknown))}: neither this "
                        "command's (see --help) nor a Beam pipeline option")
    return PipelineOptions(_with_defaults(beam_args))


def processes_per_machine(options):
    """How many worker processes share one machine's CPUs and memory: the DirectRunner's
    multi-processing workers, one per vCPU on Dataflow (0: one per CPU), else 1."""
    from apache_beam.options.pipeline_options import DirectOptions, StandardOptions

    runner = str(options.view_as(StandardOptions).runner or "")
    if runner.endswith("DataflowRunner"):
        return 0
    direct = options.view_as(DirectOptions)
    if runner.endswith("DirectRunner") and direct.direct_running_mode == "multi_processing":
        return direct.direct_num_workers
    return 1


def _absolute(uri):
    from arbitrary_style.batch import transforms

    uri = transforms.from_file_uri(uri)
    return os.path.abspath(os.path.expanduser(uri)) if transforms.is_local(uri) else uri


def plan_input(uri):
    """(pattern or list file, root or None, is_list) for --input."""
    from apache_beam.io.filesystems import FileSystems

    from arbitrary_style.batch import transforms

    uri = _absolute(uri)
    local_dir = transforms.is_local(uri) and os.path.isdir(uri)
    if local_dir or uri.endswith("/"):
        root = uri.rstrip("/") + "/"
        return root + "*", root, False
    if transforms.has_wildcards(uri):
        return uri, transforms.glob_root(uri), False
    if not FileSystems.exists(uri):
        hint = "" if transforms.is_local(uri) else " (a directory URI ends with /)"
        raise UserError(f"--input {uri}: no such file or directory{hint}")
    if transforms.is_image_name(uri):
        return uri, uri.rsplit("/", 1)[0] + "/", False
    return uri, None, True


def plan():
    """The job description handed to `transforms.build` (all from the flags)."""
    from apache_beam.io.filesystems import FileSystems

    from arbitrary_style.batch import transforms

    if not FLAGS.output:
        raise UserError("--output is required: a directory or URI prefix")
    if bool(FLAGS.styles) == bool(FLAGS.style_per_input):
        raise UserError("give either --styles (with --input) or --style_per_input")
    if bool(FLAGS.input) == bool(FLAGS.style_per_input):
        raise UserError("--input is required with --styles, and not used with "
                        "--style_per_input (its CSV names the content images)")
    output = _absolute(FLAGS.output).rstrip("/")
    job = {"output": output, "format": FLAGS.format, "backend": FLAGS.backend,
           "max_pixels": FLAGS.max_pixels, "style_per_input": None, "input": None,
           "root": None, "is_list": False,
           "options": {"strength": FLAGS.strength, "content_size": FLAGS.content_size,
                       "style_size": FLAGS.style_size,
                       "preserve_colors": FLAGS.preserve_colors, "tile": FLAGS.tile,
                       "stroke_scale": FLAGS.stroke_scale}}
    if FLAGS.style_per_input:
        job["style_per_input"] = _absolute(FLAGS.style_per_input)
        if not FileSystems.exists(job["style_per_input"]):
            raise UserError(f"--style_per_input {job['style_per_input']}: no such file")
    else:
        job["input"], job["root"], job["is_list"] = plan_input(FLAGS.input)
        lists_a_folder = transforms.has_wildcards(job["input"])
        if lists_a_folder and (output + "/").startswith(job["root"]):
            raise UserError(f"--output {output} is inside the input directory "
                            f"{job['root']}; a re-run would read the outputs as inputs")
    return job


def settings(job):
    """What decides the outputs' pixels: a re-run into the same --output must match."""
    from arbitrary_style.batch import transforms

    styles = ([[_absolute(transforms.as_uri(p)), w] for p, w in specs.parse_styles(
        FLAGS.styles)] if FLAGS.styles else None)
    return {"styles": styles, "style_per_input": job["style_per_input"],
            "weights": FLAGS.weights, "backend": job["backend"], "format": job["format"],
            **job["options"]}


def check_settings(job):
    """Writes OUTPUT/batch_settings.json, or refuses when it records other settings."""
    from apache_beam.io.filesystems import FileSystems

    from arbitrary_style.batch import transforms

    wanted = settings(job)
    path = transforms.join(job["output"], transforms.SETTINGS_FILE)
    if FileSystems.exists(path):
        try:
            recorded = json.loads(transforms.read_text(path))
            if not isinstance(recorded, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as error:  # Unreadable, not UTF-8, not JSON.
            raise UserError(f"{path} is damaged ({' '.join(str(error).split())}): the "
                            f"settings of the outputs in --output {job['output']} are "
                            "unknown; remove it if they are those of this command, or use "
                            "another --output") from None
        differ = sorted(k for k in set(wanted) | set(recorded) if wanted.get(k) != recorded.get(k))
        if differ:
            raise UserError(f"--output {job['output']} holds outputs made with other settings "
                            f"(differing: {', '.join(differ)}; see {path}); use another --output")
    else:
        transforms.write_text(json.dumps(wanted, indent=2) + "\n", path)


def counters(result):
    """The job's done/skipped/failed Beam counters."""
    from apache_beam.metrics.metric import MetricsFilter

    from arbitrary_style.batch import transforms

    totals = dict.fromkeys(transforms.COUNTERS, 0)
    query = result.metrics().query(MetricsFilter().with_namespace(transforms.NAMESPACE))
    for counter in query["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[counter.key.metric.name] += value or 0
    return totals


def _import_beam():
    """apache_beam, without the warnings its import logs on the root logger about the GCP
    clients it lacks (unless --verbose)."""
    root, level = logging.getLogger(), logging.getLogger().level
    if not FLAGS.verbose:
        root.setLevel(logging.ERROR)
    try:
        import apache_beam
    finally:
        root.setLevel(level)
    return apache_beam


def outcome(totals, failures_file):
    """(exit status, the summary's error line or None) of a job's counters: 1 when no input
    was ever stylized (none found, or all failed) or when any file could not be written; a
    bad input alone is a listed failure (exit 0)."""
    if totals["unwritten"]:
        return 1, (f"{totals['unwritten']} files could not be written (disk full, no "
                   f"permission?); see {failures_file}")
    if not totals["done"] and not totals["skipped"]:
        if not totals["failed"]:
            return 1, "nothing to do: --input holds no images"
        return 1, f"nothing was written: all {totals['failed']} inputs failed; see {failures_file}"
    return 0, None


def report(totals, seconds, job, model):
    """Prints the summary (JSON with --json) and its error or warning line; returns the
    exit status."""
    from arbitrary_style.batch import transforms

    failures_file = transforms.join(job["output"], transforms.FAILURES_FILE)
    status, error = outcome(totals, failures_file)
    inputs = totals["done"] + totals["skipped"] + totals["failed"]
    summary = {**totals, "inputs": inputs, "seconds": round(seconds, 3),
               "images_per_second": round(totals["done"] / seconds, 3),
               "output": job["output"], "backend": model.backend,
               # What each worker uses where the workers run on this machine.
               "worker_threads": transforms.worker_resources(job["processes"],
                                                           job["worker_threads"])[0],
               "failures": failures_file, "error": error}
    if FLAGS.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"done {totals['done']}, skipped {totals['skipped']}, failed {totals['failed']} "
              f"of {summary['inputs']} inputs in {seconds:.1f} s "
              f"({summary['images_per_second']:.2f} images/s); outputs in {job['output']}")
    if error:
        print(f"error: {error}", file=sys.stderr)
    elif totals["failed"]:
        print(f"warning: {totals['failed']} inputs failed; see {failures_file}",
              file=sys.stderr)
    return status


def run(argv):
    """The command; returns the exit code."""
    beam = _import_beam()
    from arbitrary_style.batch import transforms
    from arbitrary_style.weights import store

    options = pipeline_options(_BEAM_ARGS)
    job = plan()
    weights_dir = store.resolve_weights(FLAGS.weights)
    # Workers resolve a cache name themselves (built-in weights ship in the package); a
    # directory is handed over as a path.
    job["weights"] = str(weights_dir) if FLAGS.weights and pathlib.Path(
        FLAGS.weights).is_dir() else FLAGS.weights
    job["processes"] = processes_per_machine(options)
    job["worker_threads"] = FLAGS.worker_threads
    job["max_memory"] = memory.budget(FLAGS.max_memory) if FLAGS.max_memory else None
    model = backends.load(weights_dir, FLAGS.backend)  # Builds the light graphs once.
    if FLAGS.styles:
        job["style"] = transforms.style_of(model, FLAGS.styles, FLAGS.style_size,
                                           FLAGS.max_pixels, FLAGS.weights)
    check_settings(job)
    transforms.remove_temporaries(job["output"])
    started = time.perf_counter()
    beam_pipeline = beam.Pipeline(options=options)
    transforms.build(beam_pipeline, job)
    # Worker processes log their start-up on stderr (Beam's "apitools not found",
    # "Logging handler created."), before the job's log level reaches them.
    with quiet_tensorflow.stderr_shown_on_failure():
        result = beam_pipeline.run()
        result.wait_until_finish()
    seconds = time.perf_counter() - started
    transforms.remove_temporaries(job["output"])
    return report(counters(result), seconds, job, model)


def main():
    define_flags()
    app.define_help_flags()  # --help and friends are absl's, not pipeline options.
    sys.argv, _BEAM_ARGS[:] = split_argv(sys.argv)
    cli.run(run)


if __name__ == "__main__":
    main()
