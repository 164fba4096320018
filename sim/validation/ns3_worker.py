"""Run one mirrored case in ns-3 and print each flow's completion time (``python -m
sim.validation.ns3_worker SPEC.json OUT.json``).

A separate process per case: ns-3 keeps global state (node list, address allocator, default
attributes) for the life of the process, and its bindings (``cppyy``) take seconds to load; a
process per case starts each case clean.  The topology is built in C++ (JIT-compiled by cppyy
once per process) from the plain lists of :func:`sim.validation.ns3.ns3_spec`:

* every link is a point-to-point link with the scenario's rate in each direction and its
  latency; the device's own transmit queue holds one packet, so the queue discipline above it
  decides who is sent (traffic control's flow control wakes it as the device frees);
* ``fair`` links: ``FqCoDelQueueDisc`` with CoDel off (flows hashed to queues of their own among
  2^20, served by deficit round robin; drops from the fattest beyond the shared limit);
  ``fqcodel``: FqCoDel as shipped; ``droptail`` links: a ``FifoQueueDisc`` of the given buffer
  (a bandwidth-delay product);
* TCP: NewReno or Cubic, the scenario's MSS, initial window and ACK ratio, minimum RTO 1 s
  (RFC 6298, ns-3's default), SYN timeout 1 s, 15 data and 6 SYN retries, 64 MiB buffers;
* routes: global routing (Dijkstra over interface metrics), each interface's metric its
  link's latency in microseconds, as the simulator routes by latency;
* one ``BulkSendApplication`` (``MaxBytes`` = the flow's size) per flow at its start time and a
  ``PacketSink`` on its own port; a flow completes when its sink has received every byte.
"""

from __future__ import annotations

import json
import sys
import time

CPP = r"""
#include "ns3/core-module.h"
#include "ns3/network-module.h"
#include "ns3/internet-module.h"
#include "ns3/point-to-point-module.h"
#include "ns3/applications-module.h"
#include "ns3/traffic-control-module.h"
#include <cmath>
#include <string>
#include <vector>

namespace simval {
using namespace ns3;

static std::vector<uint64_t> need, got;
static std::vector<double> done;
static uint64_t drops = 0;

static void OnRx(uint32_t i, Ptr<const Packet> p, const Address &) {
  got[i] += p->GetSize();
  if (got[i] >= need[i] && done[i] < 0) done[i] = Simulator::Now().GetSeconds();
}

static std::vector<uint64_t> txbytes;  // bytes each device sent (two per link: a>b, b>a)

static void OnTx(uint32_t k, Ptr<const Packet> p) { txbytes[k] += p->GetSize(); }

static std::string Rate(double bps) { return std::to_string((uint64_t) std::llround(bps)) + "bps"; }

static std::vector<Ptr<QueueDisc>> discs;  // the root queue disc of every device

static void Queue(Ptr<NetDevice> dev, int kind, int packets) {
  TrafficControlHelper tch;
  // per-flow fair queueing without AQM: FqCoDel's queues and DRR, CoDel never drops; 2^20 flow queues (made
  // as flows appear) so that flows almost never share one (its set-associative hashing, the other way to
  // avoid that, made ns-3 3.44 retransmit 2% of the bytes of 100 image uploads without a drop)
  if (kind == 0) {
    tch.SetRootQueueDisc("ns3::FqCoDelQueueDisc", "MaxSize",
                         QueueSizeValue(QueueSize(std::to_string(packets) + "p")),
                         "Interval", StringValue("1000s"), "Target", StringValue("999s"),
                         "Flows", UintegerValue(1u << 20));
  } else if (kind == 2) {  // FqCoDel as shipped (CoDel: 5 ms target, 100 ms interval)
    tch.SetRootQueueDisc("ns3::FqCoDelQueueDisc", "MaxSize",
                         QueueSizeValue(QueueSize(std::to_string(packets) + "p")));
  } else {
    tch.SetRootQueueDisc("ns3::FifoQueueDisc", "MaxSize",
                         QueueSizeValue(QueueSize(std::to_string(packets) + "p")));
  }
  QueueDiscContainer q = tch.Install(dev);
  discs.push_back(q.Get(0));
}

// one row per link: a, b (node indices), rate a->b and b->a (bit/s), latency (s), queue kind
// (0 fair, 1 droptail) and the drop-tail buffers (packets) of each direction.
// one row per flow: src, dst (node indices), start (s), bytes.  Returns each flow's completion
// time (s, -1 if it did not complete by the horizon), then the bytes each flow's sink received, the bytes
// each link direction sent (a>b, b>a per link; packets with their headers), and the packets the queue
// discs dropped.
std::vector<double> Run(int n_nodes, const std::vector<int> &la, const std::vector<int> &lb,
                        const std::vector<double> &ab_bps, const std::vector<double> &ba_bps,
                        const std::vector<double> &latency, const std::vector<int> &qkind,
                        const std::vector<int> &q_ab, const std::vector<int> &q_ba,
                        const std::vector<int> &fsrc, const std::vector<int> &fdst,
                        const std::vector<double> &fstart, const std::vector<double> &fbytes,
                        const std::string &tcp, double horizon, uint32_t mss, uint32_t iw,
                        uint32_t ack_every, double min_rto_ms) {
  Config::SetDefault("ns3::TcpL4Protocol::SocketType", StringValue(tcp));
  Config::SetDefault("ns3::TcpSocket::SegmentSize", UintegerValue(mss));
  Config::SetDefault("ns3::TcpSocket::InitialCwnd", UintegerValue(iw));
  Config::SetDefault("ns3::TcpSocket::DelAckCount", UintegerValue(ack_every));
  Config::SetDefault("ns3::TcpSocketBase::MinRto", TimeValue(MilliSeconds(min_rto_ms)));
  Config::SetDefault("ns3::TcpSocket::DataRetries", UintegerValue(15));
  Config::SetDefault("ns3::TcpSocket::ConnCount", UintegerValue(6));
  Config::SetDefault("ns3::TcpSocket::ConnTimeout", TimeValue(Seconds(1.0)));
  Config::SetDefault("ns3::TcpSocket::SndBufSize", UintegerValue(1 << 26));
  Config::SetDefault("ns3::TcpSocket::RcvBufSize", UintegerValue(1 << 26));
  NodeContainer nodes;
  nodes.Create(n_nodes);
  txbytes.assign(2 * la.size(), 0);
  discs.clear();
  InternetStackHelper stack;
  stack.Install(nodes);
  PointToPointHelper p2p;
  p2p.SetQueue("ns3::DropTailQueue", "MaxSize", QueueSizeValue(QueueSize("1p")));
  std::vector<Ipv4Address> addr(n_nodes);
  std::vector<bool> has(n_nodes, false);
  for (size_t i = 0; i < la.size(); i++) {
    p2p.SetChannelAttribute("Delay", TimeValue(Seconds(latency[i])));
    NetDeviceContainer d = p2p.Install(nodes.Get(la[i]), nodes.Get(lb[i]));
    d.Get(0)->SetAttribute("DataRate", DataRateValue(DataRate(Rate(ab_bps[i]))));
    d.Get(1)->SetAttribute("DataRate", DataRateValue(DataRate(Rate(ba_bps[i]))));
    d.Get(0)->TraceConnectWithoutContext("PhyTxBegin", MakeBoundCallback(&OnTx, (uint32_t) (2 * i)));
    d.Get(1)->TraceConnectWithoutContext("PhyTxBegin", MakeBoundCallback(&OnTx, (uint32_t) (2 * i + 1)));
    Queue(d.Get(0), qkind[i], q_ab[i]);
    Queue(d.Get(1), qkind[i], q_ba[i]);
    Ipv4AddressHelper ip;
    std::string base = "10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".0";
    ip.SetBase(Ipv4Address(base.c_str()), Ipv4Mask("255.255.255.252"));
    Ipv4InterfaceContainer ifs = ip.Assign(d);
    uint16_t metric = (uint16_t) std::max(1.0, std::min(65535.0, std::round(latency[i] * 1e6)));
    for (int k = 0; k < 2; k++) {
      std::pair<Ptr<Ipv4>, uint32_t> pi = ifs.Get(k);
      pi.first->SetMetric(pi.second, metric);
      int node = k == 0 ? la[i] : lb[i];
      if (!has[node]) { addr[node] = ifs.GetAddress(k); has[node] = true; }
    }
  }
  Ipv4GlobalRoutingHelper::PopulateRoutingTables();
  size_t n = fsrc.size();
  need.assign(n, 0); got.assign(n, 0); done.assign(n, -1.0); drops = 0;
  for (size_t i = 0; i < n; i++) {
    uint16_t port = (uint16_t) (10000 + i);
    PacketSinkHelper sink("ns3::TcpSocketFactory", InetSocketAddress(Ipv4Address::GetAny(), port));
    ApplicationContainer s = sink.Install(nodes.Get(fdst[i]));
    s.Start(Seconds(0.0));
    need[i] = (uint64_t) fbytes[i];
    s.Get(0)->TraceConnectWithoutContext("Rx", MakeBoundCallback(&OnRx, (uint32_t) i));
    BulkSendHelper bulk("ns3::TcpSocketFactory", InetSocketAddress(addr[fdst[i]], port));
    bulk.SetAttribute("MaxBytes", UintegerValue((uint64_t) fbytes[i]));
    bulk.SetAttribute("SendSize", UintegerValue(mss));
    ApplicationContainer a = bulk.Install(nodes.Get(fsrc[i]));
    a.Start(Seconds(fstart[i]));
  }
  Simulator::Stop(Seconds(horizon));
  Simulator::Run();
  for (auto &q : discs) drops += q->GetStats().nTotalDroppedPackets;  // its flow queues' drops included
  discs.clear();
  Simulator::Destroy();
  Ipv4AddressGenerator::Reset();
  std::vector<double> out(done);
  for (size_t i = 0; i < n; i++) out.push_back((double) got[i]);
  for (size_t k = 0; k < txbytes.size(); k++) out.push_back((double) txbytes[k]);
  out.push_back((double) drops);
  return out;
}
}  // namespace simval
"""

TCP_TYPES = {"newreno": "ns3::TcpNewReno", "cubic": "ns3::TcpCubic"}


def version() -> str:
    from importlib.metadata import version as v

    return v("ns3")


def run(spec: dict) -> dict:
    """Build and run ``spec`` (see :func:`sim.validation.ns3.ns3_spec`) in ns-3: each flow's
    completion time in seconds (None if it did not complete by the horizon)."""
    links, flows = spec["links"], spec["flows"]
    t0 = time.perf_counter()
    from ns import ns  # noqa: F401  (loads the ns-3 libraries and headers)
    import cppyy

    if not hasattr(cppyy.gbl, "simval"):
        cppyy.cppdef(CPP)
    t1 = time.perf_counter()
    out = list(cppyy.gbl.simval.Run(
        spec["n_nodes"], [l["a"] for l in links], [l["b"] for l in links], [float(l["ab_bps"]) for l in links],
        [float(l["ba_bps"]) for l in links], [float(l["latency_s"]) for l in links],
        [{"fair": 0, "droptail": 1, "fqcodel": 2}[l["queue"]] for l in links], [int(l["buffer_ab"]) for l in links],
        [int(l["buffer_ba"]) for l in links], [f["src"] for f in flows], [f["dst"] for f in flows],
        [float(f["start_s"]) for f in flows], [float(f["size_bytes"]) for f in flows],
        TCP_TYPES[spec["cc"]], float(spec["horizon_s"]), spec["mss_bytes"], spec["initial_window_segments"],
        spec["ack_every_segments"], float(spec.get("min_rto_ms", 1000.0))))
    n = len(flows)
    finish, received, sent = out[:n], out[n:2 * n], out[2 * n:-1]
    return {"finish_s": [t if t >= 0 else None for t in finish], "received_bytes": [int(b) for b in received],
            "link_bytes": [[int(sent[2 * i]), int(sent[2 * i + 1])] for i in range(len(links))],
            "drops": int(out[-1]), "ns3": version(),
            "load_s": t1 - t0, "run_s": time.perf_counter() - t1}


def main(argv: list[str]) -> int:
    """``SPECS.json OUT.json``: a list of specs in, a list of results out (one process: the
    bindings load once; each case resets what ns-3 keeps between simulations)."""
    spec_path, out_path = argv
    with open(spec_path) as f:
        specs = json.load(f)
    results = [run(spec) for spec in specs]
    with open(out_path, "w") as f:
        json.dump(results, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
