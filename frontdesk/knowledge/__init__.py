"""The knowledge base: help-centre articles as Markdown files with front matter (``kb/``), loaded
and checked here, for answers to customers' questions and for agent assist."""
