"""Seeded random streams and weighted draws."""

from __future__ import annotations

import zlib

import numpy as np

from .geo import FloatArray, IntArray


def stream(seed: int, name: str) -> np.random.Generator:
    """An independent random generator for one named part of the demo."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def sample(rng: np.random.Generator, weights: FloatArray) -> IntArray:
    """One categorical draw per row of a (n, k) weight matrix."""
    cum = np.cumsum(weights, axis=1)
    u = rng.random(len(weights)) * cum[:, -1]
    picked = np.minimum((cum < u[:, None]).sum(axis=1), weights.shape[1] - 1)
    return np.asarray(picked, np.int64)


def weighted_cut(
    values: FloatArray, weights: FloatArray, shares: FloatArray
) -> FloatArray:
    """Thresholds splitting ``values`` into classes holding ``shares`` of the weight."""
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order]) / max(float(weights.sum()), 1e-12)
    pos = np.searchsorted(cum, np.cumsum(shares)[:-1])
    return values[order][np.minimum(pos, len(values) - 1)]
