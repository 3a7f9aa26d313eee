"""examples/slurm/ddmd.sbatch, submitted with sbatch to the test cluster (its resource lines and
campaign size shrunk to fit two 2-CPU nodes without GPUs): DeepDriveMD uses every node of the
allocation (a tiny real campaign: OpenMM segments and PyTorch training in node workers)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.slurm.cluster import require_cluster, slurm_env

pytest.importorskip("openmm")
pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "slurm" / "ddmd.sbatch"


def shrunk(text: str, run_dir: Path, out: Path) -> str:
    """The example with resources and campaign that fit the test cluster."""
    subs = [(r"--ntasks-per-node=\d+", "--ntasks-per-node=2"), (r"#SBATCH --gres=\S+\n", ""),
            (r"--mem=0", "--mem=1500"), (r"--output=\S+", f"--output={out}"),
            (r"--simulations 16 --iterations 4", "--simulations 2 --iterations 1 --segment-ps 2 "
             "--epochs 1 --initial-epochs 1 --no-baseline"),
            (r'--run-dir "runs/ddmd-\$SLURM_JOB_ID"', f"--run-dir {run_dir}")]
    for pattern, new in subs:
        text, n = re.subn(pattern, new, text)
        assert n == 1, f"examples/slurm/ddmd.sbatch no longer has {pattern!r}"
    return text


def test_the_example_batch_script_runs_deepdrivemd_on_both_nodes(tmp_path: Path) -> None:
    require_cluster()
    run_dir, out = tmp_path / "ddmd", tmp_path / "job.out"
    script = tmp_path / "ddmd.sbatch"
    script.write_text(shrunk(EXAMPLE.read_text(), run_dir, out))
    done = subprocess.run(["sbatch", "--wait", f"--chdir={ROOT}", str(script)],
                          capture_output=True, text=True, env=slurm_env(), timeout=600,
                          check=False)
    log = out.read_text() if out.exists() else ""
    assert done.returncode == 0, done.stdout + done.stderr + log
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
