"""colab/demo.ipynb runs headlessly (nbclient) on a finished tiny quickstart workdir."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from flowvq_jax.apps import quickstart

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

NOTEBOOK = Path(__file__).resolve().parents[2] / "colab" / "demo.ipynb"


def test_notebook_is_stored_without_outputs():
  nb = nbformat.read(NOTEBOOK, as_version=4)
  code = [c for c in nb.cells if c.cell_type == "code"]
  assert code and all(c.outputs == [] and c.execution_count is None for c in code)
  params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
  assert len(params) == 1 and "FLOWVQ_WORKDIR" in params[0].source


def test_notebook_executes(tiny_checkpoints, tmp_path, monkeypatch):
  workdir = tmp_path / "work"
  shutil.copytree(tiny_checkpoints, workdir / "checkpoints")
  # A kernel that runs this very Python (the one with flowvq_jax installed).
  spec = tmp_path / "jupyter" / "kernels" / "flowvq_test"
  spec.mkdir(parents=True)
  argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
  (spec / "kernel.json").write_text(
    json.dumps({"argv": argv, "display_name": "flowvq test", "language": "python"})
  )
  monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
  monkeypatch.setenv("FLOWVQ_WORKDIR", str(workdir))
  monkeypatch.setenv("FLOWVQ_PRESET", "tiny")
  monkeypatch.setenv("FLOWVQ_SECONDS", "1.2")
  monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
  nb = nbformat.read(NOTEBOOK, as_version=4)
  client = nbclient.NotebookClient(
    nb, kernel_name="flowvq_test", timeout=300, resources={"metadata": {"path": str(tmp_path)}}
  )
  client.execute()
  outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
  assert not [o for o in outputs if o.output_type == "error"]
  html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
  assert any("data:video/mp4;base64," in h for h in html)
  assert any("image/png" in o.get("data", {}) for o in outputs)
  assert quickstart.is_done(str(workdir), quickstart.PRESET_SETTINGS["tiny"])
  assert list((workdir / "notebook").glob("*.mp4"))
