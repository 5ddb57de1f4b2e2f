"""What a release contains: its version, and (later) its changelog, notes and secrets."""
