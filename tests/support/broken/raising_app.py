"""A module that raises while it is imported."""

raise RuntimeError("no database configured")
