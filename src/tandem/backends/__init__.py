"""Backends execute what the core placed: real processes, warm function workers, timers.

Contract: a backend follows :mod:`tandem.backends.base` (start, launch, kill, shutdown; pause,
resume and preempt when steerable; which nodes it can execute), reports exits as events and
never touches scheduler state. This package may import ``tandem.spec``, ``tandem.errors`` and
the core's values, actions and events only, never the runtime, the simulator or the trace.
The package itself re-exports nothing: import the module that defines a name.
Imports: nothing from tandem.
"""
