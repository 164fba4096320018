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
