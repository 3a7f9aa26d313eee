"""Trace: what happened to every task, in one schema for the runtime and the simulator.

Contract: instrument hooks, trace files, and metrics and exports read from them; reads nothing
from the scheduler but the values it is handed. Imports ``tandem.core`` values and
``tandem.model.utilisation``.
Imports: tandem.trace.instrument, tandem.trace.jsonl.
"""

from tandem.trace.instrument import Instrument
from tandem.trace.jsonl import TRACE_FILE, JsonlTrace, read_trace

__all__ = ["TRACE_FILE", "Instrument", "JsonlTrace", "read_trace"]
