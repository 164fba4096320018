"""examples/quickstart.ipynb runs top to bottom (nbclient, a fresh kernel, the repository
root as working directory) and shows what it says it shows."""

import json
from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient", reason="nbclient is a test dependency (pyproject.toml [test])")
nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parents[2]


def test_the_quickstart_notebook_runs():
    nb = nbformat.read(ROOT / "examples" / "quickstart.ipynb", as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}}).execute()
    text = json.dumps([c.get("outputs", []) for c in nb.cells if c.cell_type == "code"])
    assert "error" not in {o.get("output_type") for c in nb.cells if c.cell_type == "code" for o in c.outputs}
    assert "arrivals" in text and "rejected:" in text and "inference_input" in text
    assert "application/vnd.plotly.v1+json" in text  # the figure cell produced a plotly figure
