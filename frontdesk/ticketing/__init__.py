"""The ticketing port and its two adapters: the embedded SQL backend and Zendesk."""
