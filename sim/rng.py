"""Named random streams derived from (seed, replication, stream name).

Every consumer draws from its own stream, so changing one policy (which may draw
more or fewer numbers from *its* stream) leaves every other sequence unchanged:
common random numbers across policy comparisons.

Draws are buffered in blocks: a numpy call per block, a list pop per draw.
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


class Stream:
    """A buffered source of uniform and standard-exponential variates."""

    __slots__ = ("name", "gen", "_u", "_e")

    def __init__(self, seed: int, replication: int, name: str):
        self.name = name
        self.gen = generator(seed, replication, name)
        self._u: list[float] = []
        self._e: list[float] = []

    def random(self) -> float:
        """Uniform on [0, 1)."""
        if not self._u:
            self._u = self.gen.random(_BLOCK).tolist()
            self._u.reverse()
        return self._u.pop()

    def exponential(self, mean: float) -> float:
        if not self._e:
            self._e = self.gen.standard_exponential(_BLOCK).tolist()
            self._e.reverse()
        return self._e.pop() * mean

    def integer(self, n: int) -> int:
        """Uniform integer in [0, n)."""
        return min(int(self.random() * n), n - 1)


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
