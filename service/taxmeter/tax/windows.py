"""Sliding time windows over fixed-size vectors of sufficient statistics.

Each window of W seconds is a ring of ``slots`` vectors (slot width W/slots). An observation
is added to the current slot of every window (a sparse update: a few indices). When time
moves past a slot, expired slots are zeroed and the sum of the closed slots is updated
incrementally (add the slot that closed, subtract the expired ones); an exact recomputation
once per window length removes floating-point drift. A window's total is that cached sum
plus the current slot: O(fields) per read. Memory is fixed: windows × slots × fields float64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


class _Ring:
    __slots__ = ("closed", "current", "epoch", "ring", "rotations", "slots", "width_s")

    def __init__(self, length_s: float, slots: int, fields: int, now: float) -> None:
        self.slots = slots
        self.width_s = length_s / slots
        self.ring: FloatArray = np.zeros((slots, fields), dtype=np.float64)
        self.closed: FloatArray = np.zeros(fields, dtype=np.float64)
        self.epoch = math.floor(now / self.width_s)
        self.current = self.epoch % slots
        self.rotations = 0

    def advance(self, now: float) -> None:
        epoch = math.floor(now / self.width_s)
        if epoch <= self.epoch:
            return
        steps = epoch - self.epoch
        if steps >= self.slots:
            self.ring[:] = 0.0
            self.closed[:] = 0.0
            self.rotations = 0
        else:
            # The slot that just closed joins the closed sum; expiring slots leave it.
            self.closed += self.ring[self.current]
            for k in range(1, steps + 1):
                slot = (self.epoch + k) % self.slots
                self.closed -= self.ring[slot]
                self.ring[slot] = 0.0
            self.rotations += steps
            if self.rotations >= self.slots:
                # Once per window length, recompute exactly (no floating-point drift).
                self.closed = self.ring.sum(axis=0)
                self.rotations = 0
        self.epoch = epoch
        self.current = epoch % self.slots


class SlidingWindows:
    """A set of sliding windows sharing one field layout. Not thread-safe: callers lock."""

    def __init__(self, lengths_s: Sequence[float], slots: int, fields: int, now: float) -> None:
        self._rings = [_Ring(length, slots, fields, now) for length in lengths_s]
        self.fields = fields

    def add(self, idx: IntArray, vals: FloatArray, now: float) -> None:
        """Add ``vals`` at the (distinct) field indices ``idx`` in every window."""
        for ring in self._rings:
            ring.advance(now)
            ring.ring[ring.current, idx] += vals

    def totals(self, now: float) -> list[FloatArray]:
        """One fresh array per window: the window's sums at ``now``."""
        out = []
        for ring in self._rings:
            ring.advance(now)
            out.append(ring.closed + ring.ring[ring.current])
        return out
