"""Named random streams derived from (seed, replication, stream name).

Every consumer draws from its own stream, so changing one policy (which may draw
more or fewer numbers from *its* stream) leaves every other sequence unchanged:
common random numbers across policy comparisons.

Draws are buffered in blocks: a numpy call per block; a scalar draw reads the block as
a list (converted on the first scalar draw from that block), an array draw slices it.
"""

from __future__ import annotations

import hashlib

import numpy as np

_BLOCK = 4096


def stream_key(name: str) -> int:
    """Stable 64-bit integer for a stream name (independent of PYTHONHASHSEED)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")


def generator(seed: int, replication: int, name: str) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, replication, stream_key(name)])))


class _Buffer:
    """Blocks of one kind of variate: the numpy block (for array draws), the same values
    as a list (for scalar draws; made only when a scalar draw reads the block) and the
    position of the next unread value."""

    __slots__ = ("draw", "array", "values", "next")

    def __init__(self, draw):
        self.draw = draw
        self.array = np.empty(0)
        self.values: list[float] = []  # the block as a list, or [] until a scalar draw needs it
        self.next = 0

    def refill(self) -> None:
        self.array = self.draw(_BLOCK)
        self.values = []
        self.next = 0

    def listed(self) -> list[float]:
        """The block as a list, for scalar draws: a fresh block first if this one is used up."""
        if self.next >= len(self.array):
            self.refill()
        self.values = self.array.tolist()
        return self.values

    def take(self, k: int) -> np.ndarray:
        """The next ``k`` values as an array."""
        parts = []
        while k > 0:
            if self.next >= len(self.array):
                self.refill()
            n = min(k, len(self.array) - self.next)
            parts.append(self.array[self.next:self.next + n])
            self.next += n
            k -= n
        return parts[0].copy() if len(parts) == 1 else np.concatenate(parts) if parts else np.empty(0)


class Stream:
    """A buffered source of uniform and standard-exponential variates.  Scalar and array
    draws read the same blocks, so ``randoms(k)`` gives the values of ``k`` calls of
    ``random()``."""

    __slots__ = ("name", "gen", "_u", "_e")

    def __init__(self, seed: int, replication: int, name: str):
        self.name = name
        self.gen = generator(seed, replication, name)
        self._u = _Buffer(self.gen.random)
        self._e = _Buffer(self.gen.standard_exponential)

    def random(self) -> float:
        """Uniform on [0, 1)."""
        b = self._u
        values = b.values if b.next < len(b.values) else b.listed()
        b.next += 1
        return values[b.next - 1]

    def exponential(self, mean: float) -> float:
        b = self._e
        values = b.values if b.next < len(b.values) else b.listed()
        b.next += 1
        return values[b.next - 1] * mean

    def integer(self, n: int) -> int:
        """Uniform integer in [0, n)."""
        return min(int(self.random() * n), n - 1)

    def randoms(self, k: int) -> np.ndarray:
        """The next ``k`` uniforms as an array: the values ``k`` calls of :meth:`random` give."""
        return self._u.take(k)

    def exponentials(self, k: int, mean: float) -> np.ndarray:
        """The next ``k`` exponential draws: the values ``k`` calls of :meth:`exponential` give."""
        return self._e.take(k) * mean

    def integers(self, k: int, n: int) -> np.ndarray:
        """The next ``k`` integers in [0, n): the values ``k`` calls of :meth:`integer` give."""
        return np.minimum((self.randoms(k) * n).astype(np.int64), n - 1)


class Streams:
    """The streams of one run; ``streams[name]`` creates a stream on first use."""

    def __init__(self, seed: int, replication: int = 0):
        self.seed = seed
        self.replication = replication
        self._streams: dict[str, Stream] = {}

    def __getitem__(self, name: str) -> Stream:
        s = self._streams.get(name)
        if s is None:
            s = self._streams[name] = Stream(self.seed, self.replication, name)
        return s
