"""See docs/architecture.md for what this package owns and how it fits with the others."""
