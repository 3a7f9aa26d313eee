"""Where trace items go: the trace writer process, which formats them off the driver's thread,
or this process.

Contract: :class:`TraceSink` takes lists of trace items (see :mod:`tandem.trace.writer`) and
appends their lines to the trace file in order, through a :class:`~tandem.sink.ProcessSink`
that runs ``writer.py`` (with ``process=True``) and writes here what the writer cannot (it
could not start, or died): the driver never blocks on the writer while the run goes, and a
crash of the writer loses only the frames it had read and not written.
Imports: tandem.sink, tandem.trace.writer.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

import tandem.trace.writer as writer
from tandem.sink import ProcessSink

WRITER = Path(writer.__file__)


class TraceSink:
    """Appends trace items to ``path``, through a writer process when ``process``."""

    def __init__(self, path: Path, *, process: bool = True) -> None:
        self.path = path
        self._file: IO[str] | None = None
        self._sink = ProcessSink(WRITER, [str(path)], what="the trace writer",
                                 local=self._write_here, process=process)
        if self._sink.pid is None:
            self._file = open(path, "a")  # noqa: SIM115 - closed by close()

    @property
    def pid(self) -> int | None:
        """The writer process's pid, while it writes."""
        return self._sink.pid

    def send(self, items: list[Any]) -> None:
        """Append ``items``' lines (in order, after everything sent before)."""
        self._sink.send(items)

    def _write_here(self, items: list[Any]) -> None:
        if self._file is None:
            self._file = open(self.path, "a")  # noqa: SIM115 - closed by close()
        self._file.write(writer.text(items))
        self._file.flush()

    def close(self) -> None:
        """Send what is left, end the pipe and wait for the writer."""
        self._sink.close()
        if self._file is not None:
            self._file.close()
            self._file = None
