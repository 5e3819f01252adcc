"""Per-layer normalization parameters of a style, on the TensorFlow transformer.

Each conditional instance norm (CIN) of the transformer computes its beta and gamma from
the style vector by two dense heads (`layers.ConditionalInstanceNorm`). A tuned style may
carry, beside its vector, an offset for every layer's beta and gamma (Dumoulin et al. 2017
learn new styles as exactly these parameters): the layer then uses

    beta = Conv(vector) + beta_offset,    gamma = Conv_1(vector) + gamma_offset.

Offsets are keyed by the layer's Magenta scope below `transformer/`
(`residual/residual1/conv1`, ..., `expand/conv3/conv`): {layer: (beta [C], gamma [C])}.
Because the heads are affine, blending styles and `--strength` act on the offsets as on
the vectors: a blend with weights w_i has offsets sum_i w_i * offsets_i, and strength s
scales them by s.

    with norm_params.applied(model, offsets):    # a StyleModel (`--backend tensorflow`)
        stylized = model.stylize(content, vector)

No TensorFlow at import time: the functions only touch the model's variables.
"""

import contextlib

import numpy as np

from arbitrary_style.errors import UserError

_PREFIX, _SUFFIX = "transformer/", "/StyleNorm/Conv/bias"


def cin_biases(transformer):
    """{layer key: (beta head bias, gamma head bias)} (Keras variables) of a transformer."""
    from arbitrary_style.layers import ConditionalInstanceNorm

    biases = {}
    for layer in transformer._flatten_layers():
        if isinstance(layer, ConditionalInstanceNorm):
            path = layer.beta_head.bias.path
            if not (path.startswith(_PREFIX) and path.endswith(_SUFFIX)):
                raise ValueError(f"unexpected CIN variable path {path}")
            biases[path[len(_PREFIX):-len(_SUFFIX)]] = (layer.beta_head.bias,
                                                       layer.gamma_head.bias)
    return dict(sorted(biases.items()))


def check_offsets(offsets, transformer, what="the style"):
    """Raises UserError unless `offsets` name exactly the transformer's CIN layers with
    their channel counts."""
    biases = cin_biases(transformer)
    if set(offsets) != set(biases):
        missing, extra = sorted(set(biases) - set(offsets)), sorted(set(offsets) - set(biases))
        raise UserError(f"{what}'s normalization parameters do not fit this transformer "
                        f"(missing {missing[:3]}, unknown {extra[:3]})")
    for key, (beta, gamma) in offsets.items():
        channels = int(biases[key][0].shape[0])
        if np.shape(beta) != (channels,) or np.shape(gamma) != (channels,):
            raise UserError(f"{what}'s normalization parameters of {key} have "
                            f"{np.shape(beta)}, {np.shape(gamma)} values; the layer has "
                            f"{channels} channels")


def scaled_sum(offsets_list, weights):
    """sum_i weights[i] * offsets_list[i] over the offsets that are not None (None when
    all are None): the offsets of a blend, or of a style at some strength."""
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


@contextlib.contextmanager
def applied(model, offsets):
    """Within: `model` (a StyleModel) adds `offsets` to its CIN layers' beta and gamma for
    every image it stylizes; they are removed on exit. None: nothing changes."""
    if offsets is None:
        yield model
        return
    if getattr(model, "backend", "tensorflow") != "tensorflow":
        raise UserError(light_backend_message())
    check_offsets(offsets, model.transformer)
    biases = cin_biases(model.transformer)
    saved = {key: (beta.numpy(), gamma.numpy()) for key, (beta, gamma) in biases.items()}
    try:
        for key, (beta, gamma) in biases.items():
            beta.assign(saved[key][0] + np.asarray(offsets[key][0], np.float32))
            gamma.assign(saved[key][1] + np.asarray(offsets[key][1], np.float32))
        yield model
    finally:
        for key, (beta, gamma) in biases.items():
            beta.assign(saved[key][0])
            gamma.assign(saved[key][1])


def light_backend_message(name=None):
    """The one-line refusal for a style with normalization parameters off TensorFlow."""
    what = f"tuned style {name!r}" if name else "a tuned style"
    return (f"{what} has per-layer normalization parameters, which the light backend cannot "
            "apply yet; use --backend tensorflow")
