"""Shared web plumbing: templates, dependencies, static files. Pages live with their capability."""
