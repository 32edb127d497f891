"""Deterministic NAT (RFC 7422), gathered as ``watch/`` is: ``domain`` (the mapping
algorithms, plain Python), ``service`` (the audited configuration history and look-ups),
``orm`` (its table), ``cli`` (``trailguard traffic detnat``)."""

from trailguard.traffic.detnat.domain import (
    ALGORITHMS,
    DetNatAnswer,
    DetNatConfig,
    DetNatPlan,
    resolve,
)

__all__ = ["ALGORITHMS", "DetNatAnswer", "DetNatConfig", "DetNatPlan", "resolve"]
