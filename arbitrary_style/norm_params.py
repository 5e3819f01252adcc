"""A tuned style's per-layer normalization parameters.

Each conditional instance norm (CIN) of the transformer computes its beta and gamma from
the style vector by two dense heads (`layers.ConditionalInstanceNorm`). A tuned style may
carry, beside its vector, an offset for every layer's beta and gamma (Dumoulin et al. 2017
learn new styles as exactly these parameters): the layer then uses

    beta = Conv(vector) + beta_offset,    gamma = Conv_1(vector) + gamma_offset.

Offsets are keyed by the layer's Magenta scope below `transformer/`
(`residual/residual1/conv1`, ..., `expand/conv3/conv`): {layer: (beta [C], gamma [C])}.
Because the heads are affine, blending styles and `--strength` act on the offsets as on
the vectors: a blend with weights w_i has offsets sum_i w_i * offsets_i, and strength s
scales them by s. Every backend takes them flattened (`flatten`) as the networks' norm
offsets input:

    stylized = model.stylize(content, vector, norm_offsets=norm_params.flatten(offsets, alpha))

No TensorFlow at import time.
"""

import numpy as np

from arbitrary_style.errors import UserError
from arbitrary_style.model_config import norm_layers

def flatten(offsets, alpha, what="the style"):
    """`offsets` as one float32 [M] array in the transformer's norm layout
    (`model_config.norm_layers`: per layer in call order, beta then gamma); UserError
    unless they name exactly the layers of a transformer of width `alpha`, with their
    channel counts. None (no offsets) gives None."""
    if offsets is None:
        return None
    layers = norm_layers(alpha)
    if set(offsets) != {key for key, _ in layers}:
        missing = sorted({key for key, _ in layers} - set(offsets))
        extra = sorted(set(offsets) - {key for key, _ in layers})
        raise UserError(f"{what}'s normalization parameters do not fit this transformer "
                        f"(missing {missing[:3]}, unknown {extra[:3]})")
    for key, channels in layers:
        beta, gamma = offsets[key]
        if np.shape(beta) != (channels,) or np.shape(gamma) != (channels,):
            raise UserError(f"{what}'s normalization parameters of {key} have "
                            f"{np.shape(beta)}, {np.shape(gamma)} values; the layer has "
                            f"{channels} channels")
    return np.concatenate([np.concatenate(offsets[key]) for key, _ in layers]).astype(
        np.float32)


def unflatten(flat, alpha):
    """The inverse of `flatten`: {layer: (beta [C], gamma [C])} of a [M] array."""
    offsets, start = {}, 0
    for key, channels in norm_layers(alpha):
        offsets[key] = (flat[start:start + channels], flat[start + channels:start + 2 * channels])
        start += 2 * channels
    return offsets


def scaled_sum(offsets_list, weights):
    """sum_i weights[i] * offsets_list[i] over the offsets that are not None (None when
    all are None): the offsets of a blend."""
    total = None
    for offsets, weight in zip(offsets_list, weights, strict=True):
        if offsets is None:
            continue
        if total is None:
            total = {key: (np.zeros_like(b, np.float64), np.zeros_like(g, np.float64))
                     for key, (b, g) in offsets.items()}
        if set(offsets) != set(total):
            raise UserError("the blended styles' normalization parameters are for "
                            "different transformers")
        for key, (beta, gamma) in offsets.items():
            total[key] = (total[key][0] + weight * np.asarray(beta, np.float64),
                          total[key][1] + weight * np.asarray(gamma, np.float64))
    return total
