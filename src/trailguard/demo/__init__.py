"""``trailguard demo``: Operation Nightjar (../shared/brief/SCENARIO.md) on loopback."""
