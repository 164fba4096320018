"""Reports as a browser shows them: a run's and a sweep's report opened in headless Chromium
render every plotly figure, paint a page that is not blank, and show no raw keys or
``None`` cells.  Skipped where Chromium is not installed (``.ci/run`` installs it where
the machine allows)."""

import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from tests import command

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not on PATH (apt-get install chromium; "
                                                          ".ci/run installs it where it can)")


def sim(*args):
    return command.sim(*args, check=True)


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """(run report, sweep report): tests/data/tiny.yaml run once and swept (3 x 2 points)."""
    out = tmp_path_factory.mktemp("render")
    sim("run", DATA / "tiny.yaml", "--out", out / "runs", "-q")
    (run,) = (out / "runs" / "tiny").iterdir()
    sim("sweep", DATA / "sweep_tiny.yaml", "--out", out / "sweeps", "-q")
    sweep = out / "sweeps" / "tiny_sweep"
    for folder in (run, sweep):
        sim("report", folder)
    return run / "report.html", sweep / "report.html"


def chromium(page: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium on ``page`` with no network, no profile of its own and 5 s of virtual
    time for plotly to draw (``--virtual-time-budget`` waits for scripts and timers)."""
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           f"--user-data-dir={tmp / 'profile'}", "--window-size=1200,2000",
                           "--virtual-time-budget=5000", *args, page.as_uri()],
                          capture_output=True, text=True, timeout=180)


def png_pixels(path: Path) -> np.ndarray:
    """The pixels (height, width, channels) of an 8-bit RGB or RGBA non-interlaced PNG, as
    Chromium writes screenshots: chunks, zlib, then each row's filter undone (PNG spec 9)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + n
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp = 3 if colour == 2 else 4
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8).reshape(height, width * bpp + 1)
    out = np.zeros((height, width * bpp), dtype=np.uint8)
    prev = np.zeros(width * bpp, dtype=np.int32)
    for y in range(height):
        f, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if f == 0:
            row = line
        elif f == 1:  # Sub: a running sum along each channel
            row = np.cumsum(line.reshape(width, bpp), axis=0).reshape(-1) % 256
        elif f == 2:  # Up
            row = (line + prev) % 256
        else:  # Average or Paeth: each byte needs the one just decoded, so byte by byte
            row = line.copy()
            for i in range(len(row)):
                a = int(row[i - bpp]) if i >= bpp else 0
                b, c = int(prev[i]), int(prev[i - bpp]) if i >= bpp else 0
                if f == 3:
                    row[i] = (row[i] + (a + b) // 2) % 256
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) % 256
        out[y] = row
        prev = row.astype(np.int32)
    return out.reshape(height, width, bpp)


def visible_text(dom: str) -> str:
    """The text a reader sees: the DOM without scripts, styles, tags and attributes."""
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S | re.I)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))


@pytest.mark.parametrize("which", ["run", "sweep"])
def test_report_renders_with_every_figure_and_no_raw_keys(reports, which, tmp_path):
    page = reports[0 if which == "run" else 1]
    source = page.read_text()
    figures = re.findall(r'<div id="([^"]+)" class="plotly-graph-div"', source)
    assert figures and len(figures) == source.count("Plotly.newPlot(")
    r = chromium(page, tmp_path, "--dump-dom")
    dom = r.stdout
    assert "</html>" in dom, r.stderr[-2000:]
    for fid in figures:  # plotly drew each figure: its div holds an svg.main-svg
        start = dom.index(f'id="{fid}"')
        end = dom.find("plotly-graph-div", start + len(fid) + 30)
        assert re.search(r'<svg[^>]*class="main-svg"', dom[start:end if end > 0 else None]), f"figure {fid} not drawn"
    text = visible_text(dom)
    for raw in ("None", "NaN", "nan", "null", "undefined"):
        assert not re.search(rf"\b{raw}\b", text), f"{raw!r} shown in the {which} report"
    for raw in ("param:", "latency_p95_s", "mean_accuracy", "_ci95", ":ci95", "exit_fractions", "link:"):
        assert raw not in text, f"raw key {raw!r} shown in the {which} report"
    legends = re.findall(r'<text[^>]*class="legendtext"[^>]*>([^<]*)</text>', dom)
    if which == "sweep":
        assert legends == ["devices, device group 0 = 5", "devices, device group 0 = 10"]
        assert "mean accuracy (completed)" in text and "offloaded fraction, routing policy" in text
    else:
        assert "p95 latency (s)" in text and "n/a: no group with model updates" in text
        assert all("link" in t for t in legends)  # the link utilisation figure's lines, by link name


@pytest.mark.parametrize("which", ["run", "sweep"])
def test_report_screenshot_is_a_drawn_page(reports, which, tmp_path):
    png = tmp_path / "shot.png"
    r = chromium(reports[0 if which == "run" else 1], tmp_path, f"--screenshot={png}")
    assert png.exists(), r.stderr[-2000:]
    px = png_pixels(png)[..., :3]
    assert px.shape[:2] == (2000, 1200)
    non_white = (px < 245).any(axis=2).mean()
    colours = np.unique(px.reshape(-1, 3), axis=0)
    assert non_white > 0.03, f"only {non_white:.1%} of the page is drawn"
    assert len(colours) > 100, f"{len(colours)} distinct colours: a blank or text-only page"
    if which == "sweep":  # the first two lines' colours (plots.PALETTE) are on the page
        for hexcolour in ("#2E91E5", "#E15F99"):
            rgb = [int(hexcolour[i:i + 2], 16) for i in (1, 3, 5)]
            assert (px == rgb).all(axis=2).sum() > 50, f"no line drawn in {hexcolour}"
