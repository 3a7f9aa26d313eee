"""Model accuracy: predicted vs measured makespan and I for every shipped paper workflow.

    python bench/model_accuracy.py [--scale 0.01]

For each of examples/paper/*.yaml: the analytic model (T_seq, T_async, I), the simulator's
prediction at the run's time scale (the slide DAG runs at 1/1000, the others at ``--scale``),
and a real run of both modes (mock tasks on their logical slots, two sessions side by side on
one event loop). Prints a table and, last, one JSON line. Nothing passes or fails on time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tandem.config import load_workflow  # noqa: E402
from tandem.model import analyze  # noqa: E402
from tandem.runtime.workflow import run_workflow_async  # noqa: E402
from tandem.sim import predict  # noqa: E402

WORKFLOWS = ("slide", "dg1", "dg2", "ddmd_mock")


async def measure(name: str, scale: float, base: Path) -> dict[str, Any]:
    wf = load_workflow(ROOT / "examples" / "paper" / f"{name}.yaml")
    model = analyze(wf)
    predicted = {m: predict(wf, mode=m, seeds=1).p50 * scale for m in ("barrier", "async")}
    runs = await asyncio.gather(*(run_workflow_async(wf, mode=m, time_scale=scale,
                                                     run_dir=base / name / m)
                                  for m in ("barrier", "async")))
    measured = {"barrier": runs[0].makespan, "async": runs[1].makespan}
    i_pred = 1 - predicted["async"] / predicted["barrier"]
    i_meas = 1 - measured["async"] / measured["barrier"]
    return {
        "workflow": name, "scale": scale, "t_seq": model.t_seq, "t_async": model.t_async,
        "improvement_model": round(model.improvement, 4),
        "predicted": {m: round(v, 4) for m, v in predicted.items()},
        "measured": {m: round(v, 4) for m, v in measured.items()},
        "error": {m: round(measured[m] / predicted[m] - 1, 4) for m in predicted},
        "improvement_predicted": round(i_pred, 4), "improvement_measured": round(i_meas, 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=0.01)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="tandem-accuracy-"))
    rows = [asyncio.run(measure(n, 1e-3 if n == "slide" else args.scale, base))
            for n in WORKFLOWS]
    print(f"{'workflow':<10} {'scale':>6} {'T_seq':>8} {'T_async':>8} "
          f"{'pred seq/async (s)':>19} {'meas seq/async (s)':>19} {'err seq/async':>14} "
          f"{'I model':>8} {'I pred':>7} {'I meas':>7}")
    for r in rows:
        p, m, e = r["predicted"], r["measured"], r["error"]
        print(f"{r['workflow']:<10} {r['scale']:>6} {r['t_seq']:>8.1f} {r['t_async']:>8.1f} "
              f"{p['barrier']:>9.3f}/{p['async']:<9.3f} {m['barrier']:>9.3f}/{m['async']:<9.3f} "
              f"{e['barrier']:>+6.2%}/{e['async']:<+7.2%} {r['improvement_model']:>8.1%} "
              f"{r['improvement_predicted']:>7.1%} {r['improvement_measured']:>7.1%}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
