"""Style vectors: blending several styles, and strength as a blend with the content's own
vector (numpy only)."""

import numpy as np

from arbitrary_style.model_config import STYLE_VECTOR_SIZE


def blend_style_vectors(vectors, weights=None):
    """Weighted mean `sum_i w_i v_i / sum_i w_i` of style vectors; weights must be > 0."""
    vectors = np.asarray(vectors, np.float32).reshape(-1, STYLE_VECTOR_SIZE)
    weights = np.ones(len(vectors)) if weights is None else np.asarray(weights, np.float64)
    if weights.shape != (len(vectors),):
        raise ValueError(f"got {len(vectors)} style vectors but {weights.size} weights")
    if not np.all(np.isfinite(weights)) or np.any(weights <= 0):
        raise ValueError(f"style weights must be positive numbers, got {weights.tolist()}")
    weights = weights / weights.max()  # in (0, 1]: the sum cannot overflow (e.g. 1e308s)
    return (weights @ vectors / weights.sum()).astype(np.float32)


def apply_strength(style_vector, content_vector, strength):
    """Identity interpolation: `s * style + (1 - s) * content`, s in [0, 1] (1 = full style)."""
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be between 0 and 1, got {strength}")
    return (strength * np.asarray(style_vector, np.float32)
            + (1.0 - strength) * np.asarray(content_vector, np.float32))
