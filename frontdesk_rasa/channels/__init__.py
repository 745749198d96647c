"""Rasa input channels, one a module like Rasa's own: REST, socket.io (the widget), Slack. All
go through one ``ChannelGate`` (``gate.py``)."""
