"""Privacy: data-subject requests (export and erasure) and retention (docs/privacy.md)."""
