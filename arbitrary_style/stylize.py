"""Stylize photos with any style images.

  python -m arbitrary_style.stylize --content photo.jpg --styles a.jpg:0.7,b.jpg:0.3
  python -m arbitrary_style.stylize --content photos/ --styles a.jpg --output out/
  python -m arbitrary_style.stylize --content clip.mp4 --styles a.jpg --output out.mp4

Each `--styles` entry is PATH[:WEIGHT] (weight > 0, default 1); the style vectors are
averaged with those weights. A path with a comma is written `\\,` in `--styles`, or given
literally with the repeatable `--style PATH` (and `--style_weight W`, one per `--style`).
`--output` is the output file for one content image (.png, .jpg, .jpeg, .webp) or video
(.mp4, .webm, .gif), or a directory: a directory or several `--content` files write one
file each into `--output DIR` (default: CONTENT_stylized.png, .mp4 for a video, in the
current directory, or ./stylized/ for several). Images are float [0,1] RGB throughout;
odd modes (grayscale, CMYK, 16-bit, alpha, EXIF rotation) are converted on load. Videos (.mp4, .mov,
.webm, .mkv, .avi, animated .gif) are stylized frame by frame with one vector for the clip,
keeping their timing and audio (arbitrary_style/video.py).
"""

import json
import os
import pathlib
import sys
import time

from absl import flags

from arbitrary_style import (
    backends, cli, common_flags, image_io, memory, pipeline, specs, temporal)
from arbitrary_style.errors import UserError

FLAGS = flags.FLAGS


def define_flags():
    """Defines the command's flags; called only when run as `__main__`, so importing this
    module (tests) defines no global flags."""
    common_flags.define("content", "styles", "style", "output", "json",
                        *common_flags.STYLIZE_OPTIONS)
    flags.DEFINE_float("temporal_smoothing", 0.0, "Videos: normalise each frame with an "
                       "exponential moving average (this factor, in [0, 0.99]) of the "
                       "network's instance-norm statistics, restarted at scene cuts. It "
                       "lowers flicker only slightly (about 1% at 0.95 on a panning clip, "
                       "none with exposure changes; see BUILD_NOTES). 0 = off: each frame "
                       "on its own.", lower_bound=0.0, upper_bound=0.99)
    flags.DEFINE_bool("temporal_consistency", False, "Videos: blend each stylized frame with "
                      "the previous output warped along the input's optical flow, where the "
                      "warp can be trusted (not at occlusions, scene cuts or large warp "
                      "errors): much less flicker, for roughly a quarter of the network's "
                      f"time per frame. Needs OpenCV ({temporal.INSTALL_HINT}).")


def collect_contents(arguments):
    """Content files from files and directories (a directory's images and videos, sorted)."""
    contents = []
    for argument in arguments:
        path = pathlib.Path(argument)
        if os.path.isdir(path):  # (pathlib's is_dir and exists raise for over-long names)
            images = image_io.list_images(path, accept=image_io.is_content_file)
            if not images:
                raise UserError(f"content directory {path} holds no images or videos")
            contents.extend(images)
        elif os.path.exists(path):
            contents.append(path)
        else:
            raise UserError(f"content image not found: {path}")
    if not contents:
        raise UserError("--content is required: an image file or a directory of images")
    return contents


def run(argv):
    """The command; returns the exit code (a UserError becomes one `error:` line)."""
    # Imported here, not above: `--help` and a bad flag stay quick without them.
    from arbitrary_style.weights import store

    started = time.perf_counter()
    styles = specs.styles_from_flags(FLAGS.styles, FLAGS.style, FLAGS.style_weight)
    arguments = (FLAGS.content or []) + argv[1:]
    contents = collect_contents(arguments)
    videos = [path for path in contents if image_io.is_video_file(path)]
    outputs = specs.plan_outputs(contents, contents + [p for p, _ in styles], FLAGS.output,
                                 several=any(os.path.isdir(a) for a in arguments),
                                 videos=videos)
    for path, _ in styles:  # Fail fast, and never open a FIFO or device.
        if not specs.is_tuned_style(path):
            image_io.check_regular_file(path, role="style image")
    options = common_flags.stylize_options(
        memory.budget(FLAGS.max_memory), temporal_smoothing=FLAGS.temporal_smoothing,
        temporal_consistency=FLAGS.temporal_consistency)
    weights_dir = store.resolve_weights(FLAGS.weights)
    config, _ = store.read_config(weights_dir)
    if len(contents) == 1 and contents[0] not in videos:
        # Refuse before loading the model; several are checked each.
        memory.plan_file(contents[0], config.alpha, options.content_size, options.max_memory,
                         options.tile, options.stroke_scale)
    model = backends.load(weights_dir, FLAGS.backend)
    weights_name = FLAGS.weights or store.DEFAULT_WEIGHTS
    stylizer = pipeline.Stylizer(
        model, pipeline.style_vector(model, styles, weights_name=weights_name,
                                     style_size=options.style_size,
                                     max_pixels=options.max_pixels), options,
        pipeline.norm_offsets(model, styles, weights_name=weights_name))

    results, failures = [], []
    jobs = list(zip(contents, outputs, strict=True))
    progress = None
    if len(jobs) > 1:  # One content shows no bar, and skips tqdm's import (12 ms).
        from arbitrary_style import progress_bar

        progress = progress_bar.bar(jobs, unit="image")
    for content_path, output_path in jobs if progress is None else progress:
        if progress is not None:
            progress.set_postfix_str(content_path.name)
        try:
            if content_path in videos:
                from arbitrary_style import video  # PyAV: only for videos (startup time)

                results.append(video.stylize_video(stylizer, content_path, output_path))
            else:
                results.append(stylizer.file(content_path, output_path))
        except UserError as error:
            if progress is None:
                raise
            progress.write(f"error: {error}", file=sys.stderr)
            failures.append({"content": str(content_path), "error": str(error)})
    summary = {
        "weights": str(weights_dir), "backbone": model.config.backbone,
        "alpha": model.config.alpha, "backend": model.backend,
        "styles": [{"path": str(p), "weight": w, "share": share} for (p, w), share
                   in zip(styles, specs.style_shares([w for _, w in styles]), strict=True)],
        "strength": options.strength, "content_size": options.content_size,
        "style_size": options.style_size, "preserve_colors": options.preserve_colors,
        "temporal_smoothing": options.temporal_smoothing,
        "temporal_consistency": options.temporal_consistency, "outputs": results,
        "failed": failures,
        "seconds": round(time.perf_counter() - started, 3),
    }
    if FLAGS.json:
        print(json.dumps(summary, indent=2))
    elif len(contents) > 1:
        print(f"wrote {len(results)} of {len(contents)} {'files' if videos else 'images'} to "
              f"{outputs[0].parent}")
    else:
        print(f"wrote {outputs[0]}")
    if failures:
        print(f"error: {len(failures)} of {len(contents)} content "
              f"{'files' if videos else 'images'} failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    define_flags()
    cli.run(run, takes_arguments=True)
