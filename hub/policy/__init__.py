"""Data-sharing agreements: the YAML files in policies/, validated and held in force."""

from __future__ import annotations

from hub.policy.loader import PolicySet, Problem, check_policies, load_policies, load_policy
from hub.policy.models import Agreement
from hub.policy.registry import PolicyRegistry

__all__ = [
    "Agreement",
    "PolicyRegistry",
    "PolicySet",
    "Problem",
    "check_policies",
    "load_policies",
    "load_policy",
]
