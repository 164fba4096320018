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

    def randoms(self, k: int) -> np.ndarray:
        """The next ``k`` uniforms as an array: the values ``k`` calls of :meth:`random` give."""
        return self._take(self._u, k, self.gen.random)

    def exponentials(self, k: int, mean: float) -> np.ndarray:
        """The next ``k`` exponential draws: the values ``k`` calls of :meth:`exponential` give."""
        return self._take(self._e, k, self.gen.standard_exponential) * mean

    def integers(self, k: int, n: int) -> np.ndarray:
        """The next ``k`` integers in [0, n): the values ``k`` calls of :meth:`integer` give."""
        return np.minimum((self.randoms(k) * n).astype(np.int64), n - 1)

    @staticmethod
    def _take(buf: list, k: int, draw) -> np.ndarray:
        out = np.empty(k)
        filled = 0
        while filled < k:
            if not buf:
                buf.extend(draw(_BLOCK).tolist())
                buf.reverse()
            take = min(k - filled, len(buf))
            out[filled:filled + take] = buf[:-take - 1:-1]  # the buffer is reversed: its end comes first
            del buf[-take:]
            filled += take
        return out


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
