"""Load test of the demo server (export/web.py) on 127.0.0.1: latency percentiles and errors.

    .venv/bin/python benchmarks/web_load.py [--requests 2000] [--connections 20]
        [--mode keepalive|close] [--module PATH/TO/web.py]

The server runs in a subprocess of its own (so the client threads and the server do not
share a GIL) on 127.0.0.1 with a free port, serving placeholder TF.js models and tf.min.js
from a temporary directory and ../shared/images when present. `--connections` client
threads, each with one http.client connection, fetch what a browser loading the demo
would (page, script, style, TF.js, both models, images) until `--requests` requests are
done or `--deadline` seconds pass. `--mode keepalive` reuses a connection as a browser
does (http.client reopens it when the server closes it); `--mode close` opens one per
request. Each request's time includes any connect. `--module` benchmarks another copy of
export/web.py (e.g. `git show HEAD:export/web.py > /tmp/web_old.py`). Only loopback
addresses are ever contacted.

Prints requests, errors (by kind), p50, p90, p99, max, stalls (requests over --stall-ms),
wall time and throughput; exits 1 when any request failed.
"""

import argparse
import collections
import http.client
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_IMAGES = ROOT.parent / "shared" / "images"

# Runs in the server subprocess: argv = module path, models dir, tf.min.js, images dir or "".
SERVER_CODE = r"""
import importlib.util, pathlib, sys
module_path, models, script, images = sys.argv[1:5]
sys.path.insert(0, sys.argv[5])
spec = importlib.util.spec_from_file_location("web_under_test", module_path)
web = importlib.util.module_from_spec(spec)
spec.loader.exec_module(web)
web.WEB_DIR = pathlib.Path(sys.argv[5]) / "export" / "web"  # A copy elsewhere: the real demo.
web.TFJS_SCRIPT = pathlib.Path(script)
server = web.make_server(models, host="127.0.0.1", port=0, images_dir=images or None,
                         quiet=True)
print(server.server_port, flush=True)
server.serve_forever()
"""


def make_files(directory):
    """Placeholder models and tf.min.js, about as large as the real ones; returns paths."""
    models = directory / "models"
    for name, shard_bytes in (("predict", 512 * 1024), ("transfer", 256 * 1024)):
        (models / name).mkdir(parents=True)
        (models / name / "model.json").write_text(json.dumps(
            {"format": "graph-model", "weightsManifest": [{"paths": ["group1-shard1of1.bin"]}],
             "padding": "x" * 20000}))
        (models / name / "group1-shard1of1.bin").write_bytes(os.urandom(shard_bytes))
    script = directory / "tf.min.js"
    script.write_bytes(b"//" + b"x" * (1400 * 1024))
    return models, script


def page_paths():
    """What one browser load of the demo fetches, in order."""
    paths = ["/", "/style.css", "/app.js", "/vendor/tf.min.js",
             "/models/predict/model.json", "/models/predict/group1-shard1of1.bin",
             "/models/transfer/model.json", "/models/transfer/group1-shard1of1.bin"]
    if SHARED_IMAGES.is_dir():
        paths += [f"/images/{p.relative_to(SHARED_IMAGES).as_posix()}"
                  for p in sorted(SHARED_IMAGES.glob("*/*.jpg"))[:4]]
    return paths


def start_server(module, models, script, images):
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER_CODE, str(module), str(models), str(script),
         str(images or ""), str(ROOT)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    line = process.stdout.readline()  # Blocks until the server listens (or dies).
    if not line.strip().isdigit():
        process.kill()
        raise SystemExit(f"the server did not start (exit status {process.wait()})")
    return process, int(line)


def run_load(port, *, requests, connections, mode, deadline, timeout):
    """Per-request latencies (s) and a Counter of errors."""
    paths = page_paths()
    latencies, errors, lock = [], collections.Counter(), threading.Lock()
    counter = iter(range(requests))  # next() on a shared iterator: one ticket per request.
    stop_at = time.monotonic() + deadline

    def worker(worker_id):
        conn = None
        step = worker_id  # The workers start at different points of the page.
        while time.monotonic() < stop_at:
            with lock:
                ticket = next(counter, None)
            if ticket is None:
                break
            path = paths[step % len(paths)]
            step += 1
            start = time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
                headers = {"Connection": "keep-alive" if mode == "keepalive" else "close"}
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                elapsed = time.perf_counter() - start
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}")
                with lock:
                    latencies.append(elapsed)
            except Exception as error:
                with lock:
                    errors[f"{type(error).__name__}: {error}"[:80]] += 1
                conn.close()
                conn = None
                continue
            if mode == "close":
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True)
               for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, stop_at - time.monotonic()) + timeout + 1)
    return latencies, errors


def process_cpu_seconds(pid):
    """User + system CPU seconds of a live process (Linux /proc), or nan."""
    try:
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def percentile(sorted_values, fraction):
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--mode", choices=("keepalive", "close"), default="keepalive")
    parser.add_argument("--module", type=pathlib.Path, default=ROOT / "export" / "web.py",
                        help="the export/web.py copy to serve with")
    parser.add_argument("--deadline", type=float, default=120.0,
                        help="stop issuing requests after this many seconds")
    parser.add_argument("--timeout", type=float, default=15.0, help="per-request timeout (s)")
    parser.add_argument("--stall-ms", type=float, default=200.0)
    args = parser.parse_args()
    if not 1 <= args.requests <= 100_000 or not 1 <= args.connections <= 200:
        parser.error("--requests must be 1..100000 and --connections 1..200")

    with tempfile.TemporaryDirectory() as directory:
        models, script = make_files(pathlib.Path(directory))
        images = SHARED_IMAGES if SHARED_IMAGES.is_dir() else None
        process, port = start_server(args.module.resolve(), models, script, images)
        try:
            # One warm-up page load, untimed.
            run_load(port, requests=len(page_paths()), connections=1, mode="close",
                     deadline=30, timeout=args.timeout)
            server_cpu, client_cpu = process_cpu_seconds(process.pid), time.process_time()
            start = time.perf_counter()
            latencies, errors = run_load(port, requests=args.requests,
                                         connections=args.connections, mode=args.mode,
                                         deadline=args.deadline, timeout=args.timeout)
            wall = time.perf_counter() - start
            server_cpu = process_cpu_seconds(process.pid) - server_cpu
            client_cpu = time.process_time() - client_cpu
        finally:
            process.kill()
            process.wait()

    values = sorted(latencies)
    ms = {name: 1000 * percentile(values, q) for name, q in
          (("p50", 0.50), ("p90", 0.90), ("p99", 0.99))} if values else {}
    stalls = sum(v * 1000 > args.stall_ms for v in values)
    print(f"module {args.module}  mode {args.mode}  connections {args.connections}")
    print(f"requests {len(values)} ok / {args.requests}, errors {sum(errors.values())}")
    if values:
        print(f"latency ms: p50 {ms['p50']:.2f}  p90 {ms['p90']:.2f}  p99 {ms['p99']:.2f}  "
              f"max {1000 * values[-1]:.2f}  mean {1000 * statistics.fmean(values):.2f}")
    print(f"stalls (> {args.stall_ms:g} ms): {stalls}")
    print(f"wall {wall:.2f} s, {len(values) / wall:.0f} requests/s; server CPU {server_cpu:.2f} s, "
          f"client CPU {client_cpu:.2f} s, {os.cpu_count()} CPUs")
    for kind, count in errors.most_common(5):
        print(f"  error x{count}: {kind}")
    return 1 if errors or len(values) < args.requests else 0


if __name__ == "__main__":
    sys.exit(main())
