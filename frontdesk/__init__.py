"""Frontdesk's domain: plain Python, never imports Rasa (``make lint`` enforces it).

One package per domain, each with its port, SQL adapter and rows together (``accounts``,
``password_reset``, ``handoff``, ``ticketing``, ``billing``, ``agents``, ``insights``, ``mail``) on
``core``; ``settings`` reads the environment, ``bootstrap`` wires the services, ``entrypoints``
delivers them (web app, agent API, CLI, launcher). Rasa's action server reaches it through the
thin adapters in ``actions/``.
"""
