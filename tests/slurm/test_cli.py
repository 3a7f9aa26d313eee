"""``tandem run WF`` inside ``salloc`` just works: a workflow without a platform key runs on
the allocation, its commands as job steps on both nodes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.slurm.cluster import require_cluster, slurm_env

WF = textwrap.dedent("""\
    name: where
    task_sets:
      - name: probe
        count: 4
        cores: 1
        command: [sh, -c, "echo $SLURMD_NODENAME $TANDEM_CORES > $TANDEM_TASK_DIR/where"]
      - name: after
        count: 1
        cores: 2
        command: [sh, -c, "echo $SLURMD_NODENAME $TANDEM_CORES > $TANDEM_TASK_DIR/where"]
        depends_on: [probe]
    """)


def test_tandem_run_inside_salloc_runs_on_the_allocation(tmp_path: Path) -> None:
    require_cluster()
    wf = tmp_path / "wf.yaml"
    wf.write_text(WF)
    run_dir = tmp_path / "run"
    tandem = str(Path(sys.executable).with_name("tandem"))
    done = subprocess.run(
        ["salloc", "-N2", "--ntasks-per-node=2", "--mem=200", "-J", "tandem-cli",
         tandem, "run", str(wf), "--run-dir", str(run_dir), "--json", "--no-progress"],
        capture_output=True, text=True, env=slurm_env(), timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout[done.stdout.index("{"):])
    assert (out["tasks"], out["failed"]) == (5, 0), out
    where = sorted(p.read_text().split()[0] for p in run_dir.rglob("where"))
    assert len(where) == 5 and set(where) == {"n1", "n2"}
