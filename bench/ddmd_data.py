"""DeepDriveMD's data hand-offs: files, in memory, streamed; makespan and filesystem bytes.

    python bench/ddmd_data.py [--repeats 3] [--config FILE | --app-default]
                              [--app-default-repeats N]
                              [--out bench/results/2026-12-03-ddmd-stream.json]

Runs the real campaign (OpenMM segments, CVAE training, the LOF agent:
``tandem_apps.ddmd.campaign.run_campaign``) with ``data: files``, ``data: memory`` and
``data: stream`` on the same configuration and machine, interleaved (files, memory, stream,
files, ...), each
repetition running every campaign mode of the configuration (sync, async) in both. No
prediction, calibration or baseline: only the campaigns. Per run it records the makespan
(first segment's start to the last agent's publication, warm-up excluded), the bytes the
stages' threads read and wrote through the filesystem (``/proc/thread-self/io`` rchar/wchar
around each stage function's body: :mod:`tandem_apps.ddmd.fsio`), per stage, and the bytes
tandem kept for them by reference in shared memory, and the size of tandem's journal at the
end (``journal.sqlite`` and ``results/``: the in-memory modes run without one). Prints medians
per mode and data path, the ratios memory / files, stream / files and stream / memory (median
of the per-repetition ratios), then writes every run to the JSON file. Nothing here passes
or fails on time.

The default configuration is small (2 lineages x 4 segments of 4 ps, 20 frames each; a few
minutes on 2 cores in all); ``--app-default`` runs the app's default campaign instead (4
lineages x 6 segments of 25 ps: about 10 minutes a repetition here), and
``--app-default-repeats N`` adds N repetitions of it after the small one, in the same JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform as host
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from tandem import Platform
from tandem_apps.ddmd import stages
from tandem_apps.ddmd.campaign import run_campaign
from tandem_apps.ddmd.config import CampaignConfig, load_config
from tandem_apps.ddmd.fsio import FileIO

SMALL: dict[str, Any] = {
    "simulations": 2, "iterations": 4, "cores": 2, "baseline": False,
    "md": {"segment_ps": 4.0, "report_interval_ps": 0.2},
    "training": {"epochs": 2, "initial_epochs": 4, "batch_size": 32},
    "agent": {"n_neighbors": 10}}
DATA = ("files", "memory", "stream")
RATIOS = (("memory", "files"), ("stream", "files"), ("stream", "memory"))


def _platform(cfg: CampaignConfig) -> Platform:
    cores = sorted(c for n in Platform.local().nodes for c in n.cores)
    return Platform.local(cores=cores[:cfg.cores] if cfg.cores else cores)


def one(cfg: CampaignConfig, mode: Any, run_dir: Path, prepared: stages.Prepared
        ) -> dict[str, Any]:
    """One campaign; what this benchmark records of it."""
    run = asyncio.run(run_campaign(cfg, mode, run_dir, _platform(cfg), prepared))
    total = sum(run.io.values(), FileIO())
    return {"mode": mode, "data": cfg.data, "makespan_s": round(run.makespan, 3),
            "fs_read_bytes": total.read, "fs_written_bytes": total.written,
            "fs_by_stage": {k: v.to_dict() for k, v in run.io.items()},
            "kept_bytes": sum(run.kept.values()), "kept_by_stage": dict(run.kept),
            "journal_bytes": run.journal,
            "stage_median_s": {k: round(statistics.median(v), 4)
                               for k, v in run.durations.items() if v},
            "segments": len(run.segments),
            "restarts": sum(1 for s in run.segments if s.restart_round is not None)}


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _ratio(pairs: list[tuple[dict[str, Any], dict[str, Any]]], key: str) -> float | None:
    got = [m[key] / f[key] for f, m in pairs if f[key] > 0]
    return round(statistics.median(got), 4) if got else None


def measure(name: str, path: str | None, base: dict[str, Any], repeats: int,
            work: Path) -> dict[str, Any]:
    """Every run of one configuration, interleaved, and its medians and ratios."""
    prepared = stages.prepare(str(work / "system"), load_config(path, base).sequence)
    runs: list[dict[str, Any]] = []
    load = [os.getloadavg()[0]]
    t0 = time.monotonic()
    print(f"{name}:", flush=True)
    for rep in range(repeats):
        for data in DATA:
            cfg = load_config(path, {**base, "data": data})
            for mode in cfg.modes:
                r = one(cfg, mode, work / f"{name}-{rep}-{data}-{mode}", prepared)
                r["repeat"] = rep
                runs.append(r)
                print(f"  repeat {rep} {mode:<5} {data:<6} makespan {r['makespan_s']:7.2f} s  "
                      f"fs read {r['fs_read_bytes'] / 1e6:8.3f} MB  written "
                      f"{r['fs_written_bytes'] / 1e6:8.3f} MB  kept "
                      f"{r['kept_bytes'] / 1e6:7.3f} MB  journal "
                      f"{r['journal_bytes'] / 1e6:6.3f} MB", flush=True)
        load.append(os.getloadavg()[0])
    cfg = load_config(path, base)
    summary: dict[str, Any] = {}
    print(f"{name}: medians of {repeats} repetitions (ratios: medians of the per-repetition "
          "ratios):")
    for mode in cfg.modes:
        by = {d: [r for r in runs if r["mode"] == mode and r["data"] == d] for d in DATA}
        med = {d: {k: _median(by[d], k) for k in ("makespan_s", "fs_read_bytes",
                                                    "fs_written_bytes", "kept_bytes",
                                                    "journal_bytes")}
               for d in DATA}
        ratios = {}
        for top, bottom in RATIOS:
            pairs = [(b, t) for b in by[bottom] for t in by[top] if b["repeat"] == t["repeat"]]
            ratios[f"{top}_over_{bottom}"] = {
                k: _ratio(pairs, k) for k in ("makespan_s", "fs_read_bytes", "fs_written_bytes")}
        summary[mode] = {"median": med, **ratios}
        for d in DATA:
            m = med[d]
            print(f"  {mode:<5} {d:<6} makespan {m['makespan_s']:7.2f} s  fs read "
                  f"{m['fs_read_bytes'] / 1e6:8.3f} MB  written {m['fs_written_bytes'] / 1e6:8.3f}"
                  f" MB  kept in memory {m['kept_bytes'] / 1e6:7.3f} MB  tandem's journal "
                  f"{m['journal_bytes'] / 1e6:6.3f} MB")
        for top, bottom in RATIOS:
            ratio = ratios[f"{top}_over_{bottom}"]
            print(f"  {mode:<5} {top}/{bottom}: makespan {ratio['makespan_s']}, fs read "
                  f"{ratio['fs_read_bytes']}, fs written {ratio['fs_written_bytes']}")
    return {"name": name, "config": cfg.model_dump(mode="json"), "repeats": repeats,
            "wall_s": round(time.monotonic() - t0, 1),
            "load_average_1min": [round(x, 2) for x in load],
            "summary": summary, "runs": runs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--config", help="a campaign configuration (YAML) instead of the small one")
    ap.add_argument("--app-default", action="store_true", help="the app's default campaign")
    ap.add_argument("--app-default-repeats", type=int, default=0, metavar="N",
                    help="after the small (or --config) one, also N repetitions of the app's "
                    "default campaign, in the same JSON")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                         "2026-12-03-ddmd-stream.json"))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ddmd-data-"))
    if args.app_default:
        plan = [("app-default", None, {"baseline": False}, args.repeats)]
    elif args.config:
        plan = [(Path(args.config).stem, args.config, {"baseline": False}, args.repeats)]
    else:
        plan = [("small", None, SMALL, args.repeats)]
    if args.app_default_repeats and not args.app_default:
        plan.append(("app-default", None, {"baseline": False}, args.app_default_repeats))
    results = [measure(name, path, base, n, work) for name, path, base, n in plan]
    out = {"benchmark": "bench/ddmd_data.py", "date": time.strftime("%Y-%m-%d"),
           "machine": {"cores": os.cpu_count(), "python": host.python_version()},
           "counted": "rchar/wchar of /proc/thread-self/io around each stage function's body, "
                      "summed over the campaign's tasks (warm-up excluded); kept: bytes of the "
                      "results tandem kept by reference; journal: size of tandem's journal "
                      "files at the end",
           "configurations": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
