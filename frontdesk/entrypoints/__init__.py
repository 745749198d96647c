"""Delivery: the web app, the agent API, the operator CLI and the process launcher. Nothing in the
domain packages imports this package."""
