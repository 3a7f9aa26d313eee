"""The durable state of a campaign: stable task keys, a journal of what happened, stored
results, so that a re-run skips finished work (see docs/running.md, "Resuming a campaign").
Imports: nothing (its modules are imported by name).
"""
