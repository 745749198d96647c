"""Rasa graph components (NLU pipeline steps), referenced by class path from ``config.yml``."""
