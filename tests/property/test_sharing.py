"""Properties of weighted max-min fair sharing (progressive filling)."""

from hypothesis import given, settings, strategies as st

from sim.entities.link import maxmin_rates

TOL = 1e-6


@st.composite
def networks(draw):
    n_links = draw(st.integers(1, 6))
    caps = draw(st.lists(st.floats(0.1, 1000), min_size=n_links, max_size=n_links))
    flows = draw(st.lists(
        st.tuples(st.floats(0.1, 10), st.sets(st.integers(0, n_links - 1), min_size=1, max_size=n_links)),
        min_size=1, max_size=12))
    return caps, [(w, sorted(p)) for w, p in flows]


def loads(caps, flows, rates):
    load = [0.0] * len(caps)
    for (_, path), r in zip(flows, rates):
        for l in path:
            load[l] += r
    return load


@settings(max_examples=300, deadline=None)
@given(networks())
def test_never_above_capacity_and_never_negative(net):
    caps, flows = net
    rates = maxmin_rates(caps, flows)
    assert all(r >= 0 for r in rates)
    for c, load in zip(caps, loads(caps, flows, rates)):
        assert load <= c * (1 + TOL)


@settings(max_examples=300, deadline=None)
@given(networks())
def test_max_min_optimality_every_flow_has_a_bottleneck(net):
    """Weighted max-min fairness: each flow crosses a saturated link on which its
    normalised rate (rate / weight) is the largest.  Then no flow can gain without
    taking from a flow whose normalised share is smaller or equal."""
    caps, flows = net
    rates = maxmin_rates(caps, flows)
    load = loads(caps, flows, rates)
    for i, (w, path) in enumerate(flows):
        norm = rates[i] / w
        has_bottleneck = False
        for l in path:
            saturated = load[l] >= caps[l] * (1 - TOL)
            largest = all(rates[j] / flows[j][0] <= norm * (1 + TOL) for j, (_, p) in enumerate(flows) if l in p)
            has_bottleneck |= saturated and largest
        assert has_bottleneck, (i, rates)


@settings(max_examples=100, deadline=None)
@given(networks(), st.floats(0.1, 10))
def test_scaling_all_weights_changes_nothing(net, k):
    caps, flows = net
    a = maxmin_rates(caps, flows)
    b = maxmin_rates(caps, [(w * k, p) for w, p in flows])
    assert all(abs(x - y) <= TOL * max(1.0, x) for x, y in zip(a, b))


def reference_completions(caps, flows, setups=None):
    """Completion times by brute force: every active flow's rate from ``maxmin_rates``
    over all active flows, recomputed at every start and end.  A flow starts sending
    after the set-up delays of its links (``setups``)."""
    setups = setups or [0.0] * len(caps)
    flows = [(start + sum(setups[l] for l in path), path, size, w) for start, path, size, w in flows]
    starts = sorted(range(len(flows)), key=lambda i: flows[i][0])
    left = {}
    done = [None] * len(flows)
    t, k = 0.0, 0
    while k < len(starts) or left:
        active = sorted(left)
        rates = maxmin_rates(caps, [(flows[i][3], flows[i][1]) for i in active]) if active else []
        t_end = min((t + left[i] / r for i, r in zip(active, rates)), default=float("inf"))
        t_start = flows[starts[k]][0] if k < len(starts) else float("inf")
        t_next = min(t_end, t_start)
        for i, r in zip(active, rates):
            left[i] -= r * (t_next - t)
            if left[i] <= 1e-9 * 8 * flows[i][2]:
                done[i] = t_next
                del left[i]
        t = t_next
        while k < len(starts) and flows[starts[k]][0] <= t:
            left[starts[k]] = 8.0 * flows[starts[k]][2]
            k += 1
    return done


@st.composite
def flow_schedules(draw):
    n_links = draw(st.integers(1, 5))
    caps = draw(st.lists(st.floats(1.0, 100.0), min_size=n_links, max_size=n_links))
    setups = draw(st.lists(st.sampled_from([0.0, 0.0, 0.3]), min_size=n_links, max_size=n_links))
    flows = draw(st.lists(st.tuples(
        st.floats(0.0, 5.0), st.sets(st.integers(0, n_links - 1), min_size=1, max_size=n_links).map(sorted),
        st.floats(1.0, 50.0), st.sampled_from([0.5, 1.0, 2.0])), min_size=1, max_size=10))
    return caps, setups, flows


@settings(max_examples=200, deadline=None)
@given(flow_schedules())
def test_network_completions_match_global_progressive_filling(sched):
    """The network recomputes only the component a start or end touches, with short
    cuts for one class and for a shared bottleneck; completion times must equal a
    brute-force fluid simulation that recomputes every flow globally."""
    from sim.entities.link import DirectedLink

    from tests.flows import run_flows

    caps, setups, flows = sched
    got = run_flows([DirectedLink(f"l{i}", c, setup_s=d) for i, (c, d) in enumerate(zip(caps, setups))], flows)
    want = reference_completions(caps, flows, setups)
    for g, w in zip(got, want):
        assert abs(g - w) <= 1e-6 * max(1.0, w), (got, want)
