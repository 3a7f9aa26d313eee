"""Data between tasks: results kept where they were made and passed by reference, streams
between running tasks.

Contract: the task side and the value types, light enough to be imported inside a function
worker (the standard library only; NumPy is used only when a value holds arrays). The driver's
side (the segment store, the stream broker) is in ``tandem.runtime``.
Imports: nothing from tandem.
"""
