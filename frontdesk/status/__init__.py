"""Status updates: a verified customer's own tickets, and the service's status and incidents.

- ``tickets``: ``TicketStatusDesk``, the live state of the customer's own tickets (never anyone else's).
- ``port``: ``StatusSource`` and what it returns (``ServiceStatus``, ``Incident``), ``tag_for``.
- ``sql``: the ``incidents`` table and ``IncidentTableSource``, the default source.
- ``statuspage``: ``StatuspageSource``, a Statuspage ``summary.json`` feed, cached, never raising.
- ``incidents``: ``IncidentService`` (open, update, resolve, list; audited) and ``StatusDesk``.
"""
