"""Where a light transfer graph's time goes, by op type (onnxruntime's profiler).

    .venv/bin/python benchmarks/light_profile.py [GRAPH.onnx ...] [--size 1024] [--runs 3]
        [--threads N] [--time RUNS]

Each graph (default: the built-in `transfer.onnx`) runs in its own session with the light
path's session options and `enable_profiling`, once to warm up and then `--runs` times on
a random content of `--size` pixels square; the table sums each op type's kernel time
(after onnxruntime's graph optimizations, so the op types are the ones it runs: Conv,
ReorderInput, ...) as ms per run (each node's median over the timed runs: a busy machine
preempts single kernels) and share of the kernel total.
`--time RUNS` times the graphs instead (no profiler), interleaved, medians of wall and
CPU time. Inputs are fed by name: `image`, `style_vector`, and zeros for any other (the
moments graph's moments; norm offsets, GRAPH_VERSION 5) (graphs of GRAPH_VERSION 4 and
later: older ones need the content padded).
"""

import argparse
import collections
import json
import os
import pathlib
import statistics
import tempfile

import numpy as np

from arbitrary_style.backends import light
from arbitrary_style.weights import builtin


def feeds(session, side):
    rng = np.random.default_rng(side)
    inputs = {}
    for spec in session.get_inputs():
        if spec.name == "image":
            inputs[spec.name] = rng.random((1, side, side, 3), np.float32)
        elif spec.name == "style_vector":
            inputs[spec.name] = rng.random((1, 100), np.float32)
        else:
            inputs[spec.name] = np.zeros([1] + [d if isinstance(d, int) else 1
                                                for d in spec.shape[1:]], np.float32)
    return inputs


def profile(path, side, runs, threads=None):
    """({op type: microseconds over `runs` runs}, model_run microseconds over `runs` runs),
    each node's and the run's median times `runs`."""
    import onnxruntime

    options = light.LightModel.session_options(
        "transfer", threads or len(os.sched_getaffinity(0)))
    options.enable_profiling = True
    options.profile_file_prefix = str(pathlib.Path(tempfile.mkdtemp()) / "profile")
    session = onnxruntime.InferenceSession(str(path), options,
                                           providers=["CPUExecutionProvider"])
    inputs = feeds(session, side)
    for _ in range(runs + 1):  # The first run warms up; it is left out below.
        session.run(None, inputs)
    events = json.load(open(session.end_profiling()))
    runs_seen = [e for e in events if e.get("name") == "model_run"]
    first_end = runs_seen[0]["ts"] + runs_seen[0]["dur"]
    per_node = collections.defaultdict(list)
    op_types = {}
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time") \
                and event["ts"] > first_end:
            per_node[event["name"]].append(event["dur"])
            op_types[event["name"]] = event["args"]["op_name"]
    times = collections.Counter()
    for name, durations in per_node.items():  # Medians: a shared machine preempts.
        times[op_types[name]] += statistics.median(durations) * runs
    wall = statistics.median(e["dur"] for e in runs_seen[1:]) * runs
    return times, wall


def timed_runs(paths, side, runs, threads=None):
    """{path: (median wall ms, median CPU ms)} of each graph, runs interleaved, no
    profiling."""
    import time

    import onnxruntime

    options = light.LightModel.session_options(
        "transfer", threads or len(os.sched_getaffinity(0)))
    sessions = {path: onnxruntime.InferenceSession(str(path), options,
                                                   providers=["CPUExecutionProvider"])
                for path in paths}
    inputs = {path: feeds(session, side) for path, session in sessions.items()}
    for path, session in sessions.items():
        session.run(None, inputs[path])  # warm-up
    samples = {path: [] for path in paths}
    for _ in range(runs):
        for path, session in sessions.items():
            wall, cpu = time.perf_counter(), time.process_time()
            session.run(None, inputs[path])
            samples[path].append((time.perf_counter() - wall, time.process_time() - cpu))
    return {path: tuple(1e3 * statistics.median(s[i] for s in runs_) for i in (0, 1))
            for path, runs_ in samples.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("graphs", nargs="*")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--time", type=int, default=0, metavar="RUNS",
                        help="instead: time the graphs, RUNS runs interleaved, no profiler")
    parser.add_argument("--threads", type=int, default=None,
                        help="intra-op threads (default: one per core, as the light path)")
    args = parser.parse_args()
    graphs = args.graphs or [str(builtin.directory() / "transfer.onnx")]
    if args.time:
        for path, (wall, cpu) in timed_runs(graphs, args.size, args.time, args.threads).items():
            print(f"{path}: {args.size}x{args.size}, {args.threads or 'default'} threads, "
                  f"median of {args.time} interleaved runs: wall {wall:.1f} ms, CPU {cpu:.1f} ms")
        return
    for path in graphs:
        times, wall = profile(path, args.size, args.runs, args.threads)
        total = sum(times.values())
        print(f"{path}: {args.size}x{args.size}, {args.runs} runs, "
              f"{args.threads or 'default'} threads: model_run "
              f"{wall / args.runs / 1e3:.1f} ms (median), kernels {total / args.runs / 1e3:.1f} ms/run")
        print(f"  {'op type':<28} {'ms/run':>8} {'share':>6}")
        for op, micros in times.most_common():
            print(f"  {op:<28} {micros / args.runs / 1e3:8.2f} {micros / total:6.1%}")


if __name__ == "__main__":
    main()
