#!/usr/bin/env bash
# Set up (scripts/setup.sh), then lint, type-check, start the Slurm test cluster
# (scripts/slurm.sh) and run the whole test suite.
# Fails if pytest collected no test (exit code 5), like on any other failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== ruff"; .venv/bin/ruff check src apps tests bench examples
echo "== mypy"; .venv/bin/mypy
echo "== browser"; bash scripts/browser.sh   # Chromium for the report test (CI=true: must install)
echo "== slurm"   # a real two-node Slurm cluster (and MPI) for tests/slurm; stopped by pid after
if ! bash scripts/slurm.sh running; then
  bash scripts/slurm.sh start
  trap 'bash scripts/slurm.sh stop' EXIT
fi
echo "== pytest"
set +e
.venv/bin/python -m pytest -q "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing on purpose" >&2
  exit 1
fi
exit "$rc"
