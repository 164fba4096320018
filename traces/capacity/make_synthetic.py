"""Write the synthetic capacity traces of traces/capacity/ (docs/wireless.md, "Time-varying capacity").

No public bandwidth trace (mahimahi, FCC broadband, LTE/5G drive tests) ships in a package on the
Python registry that this project could depend on, so these traces are SYNTHETIC, made by this
script, and say so in their header:

* ``snr_dip_synthetic.csv``: an SNR offset (dB) for a radio access point: 0 dB, then a dip of
  -15 dB from 200 s to 400 s (a ten-minute-scale obstruction, shortened to fit a 600 s run), then
  0 dB again; ``at_end: hold`` keeps the last value.
* ``capacity_walk_synthetic.csv``: a capacity (bit/s) for a fixed-rate link: a seeded random walk
  of the log-capacity every second around 20 Mb/s (sigma 0.1 per step, within 2 .. 50 Mb/s), with
  an outage-like dip to 0.5 Mb/s from 120 s to 150 s; 300 s long (``at_end: repeat`` repeats it).

Run from the repository root: ``python traces/capacity/make_synthetic.py``.
"""

from __future__ import annotations

import datetime
import math
import random
from pathlib import Path

HERE = Path(__file__).parent
COMMAND = "python traces/capacity/make_synthetic.py"


def header(what: str) -> str:
    return (f"# source: synthetic ({what}); not a measurement\n"
            f"# date: {datetime.date.today().isoformat()}\n"
            f"# command: {COMMAND}\n")


def main() -> None:
    (HERE / "snr_dip_synthetic.csv").write_text(
        header("SNR offset: 0 dB, -15 dB from 200 s to 400 s, 0 dB after")
        + "time_s,snr_offset_db\n0,0\n200,-15\n400,0\n")
    rng = random.Random(20261207)
    rows, log_c = [], math.log(20e6)
    for t in range(300):
        log_c = min(max(log_c + rng.gauss(0.0, 0.1), math.log(2e6)), math.log(50e6))
        c = 0.5e6 if 120 <= t < 150 else math.exp(log_c)
        rows.append(f"{t},{c:.0f}")
    (HERE / "capacity_walk_synthetic.csv").write_text(
        header("capacity: seeded log random walk around 20 Mb/s, dip to 0.5 Mb/s at 120-150 s, seed 20261207")
        + "time_s,capacity_bps\n" + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
