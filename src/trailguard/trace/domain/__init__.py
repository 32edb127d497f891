"""The trace's plain typed domain: no web or database imports."""
