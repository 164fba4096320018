"""Shared test helper: run flows through a fresh network and return their completion times."""

import simpy

from sim.entities.link import Network


def run_flows(links, specs):
    """specs: (start_s, path indices, size_bytes, weight) -> completion times."""
    env = simpy.Environment()
    net = Network(env, links)
    done = {}

    def proc(i, start, path, size, w):
        yield env.timeout(start)
        yield net.transfer([links[j] for j in path], size, w)
        done[i] = env.now

    for i, s in enumerate(specs):
        env.process(proc(i, *s))
    env.run()
    return [done[i] for i in range(len(specs))]
