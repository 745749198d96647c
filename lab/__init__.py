"""Tooling, never imported at run time: evaluation (``make eval``), the closed beta (``make beta``),
the speed and NLU benchmarks (``make bench``, ``make bench-nlu``) and the one launcher of a full local
stack they and the end-to-end tests share."""
