"""Database side of the audit log: stored tree nodes and the append-only log itself."""
