"""The exercise's plain typed Python: scenarios from a seed, the answer key, scoring."""
