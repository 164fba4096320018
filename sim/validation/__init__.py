"""Cross-checks of the simulator's models against other simulators (docs/fidelity.md).

:mod:`sim.validation.ns3`: the network model against ns-3's packet-level TCP
(``sim validate-model ns3``); :mod:`sim.validation.ns3_worker` runs ns-3 in a process of its own.
"""
