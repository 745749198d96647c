"""Rasa-side tooling for Frontdesk: code that imports Rasa and runs next to the Rasa server or
the model (evaluation, custom components). The domain package ``frontdesk`` never imports it."""
