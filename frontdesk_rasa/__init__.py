"""What ``rasa run`` loads for Frontdesk: the graph components of the NLU pipeline
(``components/``), the input channels (``channels/``), the profiled speed-ups, and the two server
entry points (``rasa_server``, ``action_server``). Tooling lives in ``lab/``, never here."""
