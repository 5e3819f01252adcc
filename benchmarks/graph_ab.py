"""Two transfer graphs side by side: the time of each, interleaved, in one process.

    .venv/bin/python benchmarks/graph_ab.py OLD.onnx NEW.onnx [--size 1024] [--repeats 15]

For a change to the light graphs (e.g. an older `transfer.onnx` from `git show
REV:arbitrary_style/pretrained/magenta-mobile/transfer.onnx > old.onnx` against today's):
both run with the light backend's session options on the same random content and style
vector, alternating, and the graph inputs each one declares (inputs the other lacks, such
as `norm_offsets`, get zeros). Prints the median wall and CPU time of each and their
ratio, and the largest output difference.
"""

import argparse
import os
import statistics
import time

import numpy as np
import onnxruntime

from arbitrary_style.backends.light import LightModel


def session(path, threads):
    return onnxruntime.InferenceSession(path, LightModel.session_options("transfer", threads),
                                        providers=["CPUExecutionProvider"])


def feeds(graph, content, vector):
    """The graph's inputs: the image, the style vector, zeros for anything else."""
    given = {"image": content, "style_vector": vector}
    return {value.name: given.get(value.name, np.zeros(
        [1 if not isinstance(d, int) else d for d in value.shape], np.float32))
        for value in graph.get_inputs()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("graphs", nargs=2)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    content = rng.random((1, args.size, args.size, 3), np.float32)
    vector = rng.normal(0, 0.3, (1, 100)).astype(np.float32)
    graphs = [session(path, args.threads) for path in args.graphs]
    inputs = [feeds(graph, content, vector) for graph in graphs]
    # The first run of each is a warm-up; its output is compared.
    outputs = [graph.run(None, feed)[0] for graph, feed in zip(graphs, inputs, strict=True)]
    times = [([], []) for _ in graphs]
    for _ in range(args.repeats):
        for graph, feed, (walls, cpus) in zip(graphs, inputs, times, strict=True):
            wall, cpu = time.perf_counter(), time.process_time()
            graph.run(None, feed)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
    medians = [(statistics.median(walls), statistics.median(cpus)) for walls, cpus in times]
    for path, (wall, cpu) in zip(args.graphs, medians, strict=True):
        print(f"{path}: {wall * 1e3:.1f} ms wall, {cpu * 1e3:.1f} ms CPU (median of "
              f"{args.repeats}, {args.size}x{args.size}, {args.threads} threads)")
    print(f"second / first: wall {medians[1][0] / medians[0][0]:.3f}x, "
          f"CPU {medians[1][1] / medians[0][1]:.3f}x; largest output difference "
          f"{np.abs(outputs[0] - outputs[1]).max():.3g}")


if __name__ == "__main__":
    main()
