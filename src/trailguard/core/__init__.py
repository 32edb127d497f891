"""Shared kernel: clock, configuration, database plumbing. No capability logic lives here."""
