"""Billing: the records port and its SQL adapter, verified lookups, triage to specialist queues
and the money requests only a person may handle."""
