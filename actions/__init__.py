"""Rasa-sdk adapters: read the tracker, call ``frontdesk``, dispatch responses, return events.

The action server registers every ``Action`` subclass in this package (one module per flow).
"""
