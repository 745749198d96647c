"""Frontdesk's domain package: plain Python, no Rasa imports.

Rasa's action server calls into this package through the thin adapters in ``actions/``.
"""
