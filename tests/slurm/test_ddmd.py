"""DeepDriveMD as examples/slurm/ddmd.sbatch runs it: the app inside an allocation uses every
node (a tiny real campaign: OpenMM segments and PyTorch training in node workers)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.slurm.cluster import require_cluster, slurm_env

pytest.importorskip("openmm")
pytest.importorskip("torch")


def test_a_tiny_campaign_runs_on_both_nodes_of_the_allocation(tmp_path: Path) -> None:
    require_cluster()
    run_dir = tmp_path / "ddmd"
    done = subprocess.run(
        ["salloc", "-N2", "--ntasks-per-node=2", "--mem=1500", "-J", "tandem-ddmd",
         sys.executable, "-m", "tandem_apps.ddmd", "--simulations", "2", "--iterations", "1",
         "--segment-ps", "2", "--epochs", "1", "--initial-epochs", "1", "--modes", "async",
         "--no-baseline", "--run-dir", str(run_dir)],
        capture_output=True, text=True, env=slurm_env(), timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["platform"] == {"cores": 4, "gpus": 0}
    assert summary["runs"]["async"]["segments"] == 2
    nodes = set()
    for line in (run_dir / "async" / "trace.jsonl").read_text().splitlines():
        ev = json.loads(line)
        if ev.get("ev") == "end":
            assert ev["state"] == "done", ev
            nodes.update(slot[0] for slot in ev["slots"])
    assert nodes == {"n1", "n2"}
