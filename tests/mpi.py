"""Build the MPI hello world (``tests/mpi_hello.c``) with one flavour's ``mpicc``.

Shared by the local MPI launcher tests and the Slurm tests: :func:`hello_binary` compiles the
program with ``mpicc.openmpi`` or ``mpicc.mpich`` into a directory and returns the binary. Each
rank of the binary prints ``rank=R size=S node=NODE cpus=LIST`` and writes its pid to ``pid.R``
in its working directory; ``exit CODE [RANK]`` and ``wait`` arguments make it exit or block
(see the C file).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

SOURCE = Path(__file__).resolve().parent / "mpi_hello.c"
FLAVOURS = ("openmpi", "mpich")


def hello_binary(flavour: str, out_dir: Path) -> Path:
    """Compile the hello world with ``mpicc.<flavour>`` into ``out_dir``; its path."""
    if flavour not in FLAVOURS:
        raise ValueError(f"hello_binary: flavour must be one of {FLAVOURS}, not {flavour!r}")
    mpicc = shutil.which(f"mpicc.{flavour}")
    if mpicc is None:
        raise RuntimeError(f"mpicc.{flavour} is not installed (Debian: apt-get install "
                           f"{'openmpi-bin libopenmpi-dev' if flavour == 'openmpi' else 'mpich'})")
    out_dir.mkdir(parents=True, exist_ok=True)
    binary = out_dir / f"mpi_hello.{flavour}"
    done = subprocess.run([mpicc, "-O1", "-o", str(binary), str(SOURCE)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{mpicc} failed on {SOURCE} (exit {done.returncode}):\n"
                           f"{done.stdout}{done.stderr}")
    return binary
