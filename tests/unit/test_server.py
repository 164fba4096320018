import pytest
import simpy

from sim.entities.server import Server
from sim.policies.scheduling import Fifo, Lifo, ShortestJobFirst


def run_jobs(policy, workers, jobs):
    """jobs: (arrival_s, service_s) -> finish times in job order."""
    env = simpy.Environment()
    server = Server(env, "s", workers, policy.priority)
    done = {}

    def proc(i, a, s):
        yield env.timeout(a)
        yield server.submit(s)
        done[i] = env.now

    for i, (a, s) in enumerate(jobs):
        env.process(proc(i, a, s))
    env.run()
    return [done[i] for i in range(len(jobs))], server


def test_fifo_one_worker():
    t, server = run_jobs(Fifo(), 1, [(0, 1.0), (0.1, 2.0), (0.2, 0.5)])
    assert t == pytest.approx([1.0, 3.0, 3.5])
    assert server.busy_area == pytest.approx(3.5)
    # queue: job 2 waits 0.1..1.0, job 3 waits 0.2..3.0
    assert server.queue_area == pytest.approx(0.9 + 2.8)


def test_two_workers():
    t, _ = run_jobs(Fifo(), 2, [(0, 1.0), (0, 1.0), (0, 1.0)])
    assert t == pytest.approx([1.0, 1.0, 2.0])


# while the first job runs, a short job and then a long one arrive: the three orders differ
QUEUED = [(0, 1.0), (0.1, 0.5), (0.2, 2.0), (0.3, 0.25)]


def test_sjf_serves_short_job_first():
    t, _ = run_jobs(ShortestJobFirst(), 1, QUEUED)
    assert t == pytest.approx([1.0, 1.75, 3.75, 1.25])


def test_lifo_serves_last_arrival_first():
    t, _ = run_jobs(Lifo(), 1, QUEUED)
    assert t == pytest.approx([1.0, 3.75, 3.25, 1.25])


def test_fifo_serves_in_arrival_order():
    t, _ = run_jobs(Fifo(), 1, QUEUED)
    assert t == pytest.approx([1.0, 1.5, 3.5, 3.75])
