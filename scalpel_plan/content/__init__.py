"""What a release contains: its version, changelog, notes, and the secrets it uses."""
