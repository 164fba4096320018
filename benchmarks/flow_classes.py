"""Cost of the network's flow classes: N flows of distinct weights against N of one weight.

Poisson flows of 1 kB on one 1 Mb/s link (load 0.8); a distinct weight per flow is what
the update loop produces (a weight per allocation decision, new ones every period).
Prints one JSON line: wall seconds of each case (median of ``--repeat``) and their ratio,
measured in the same process.

    python benchmarks/flow_classes.py [--flows 1000 4000 16000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import simpy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sim.entities.link import DirectedLink, Network  # noqa: E402


def one(n: int, distinct: bool) -> tuple[float, int]:
    env = simpy.Environment()
    link = DirectedLink("up", 1e6)
    net = Network(env, [link])
    gaps = np.random.default_rng(1).exponential(0.01, n)

    def src():
        for i in range(n):
            yield env.timeout(gaps[i])
            net.transfer([link], 1000, 1.0 + (i * 1e-4 if distinct else 0.0))

    env.process(src())
    t = time.perf_counter()
    env.run()
    assert net.completed == n
    return time.perf_counter() - t, len(net.classes)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--flows", type=int, nargs="+", default=[1000, 4000, 16000])
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    out = []
    for n in a.flows:
        d = statistics.median(one(n, True)[0] for _ in range(a.repeat))
        s = statistics.median(one(n, False)[0] for _ in range(a.repeat))
        out.append({"flows": n, "distinct_weights_s": round(d, 4), "one_weight_s": round(s, 4),
                    "ratio": round(d / s, 2), "live_classes_at_end": one(n, True)[1]})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
