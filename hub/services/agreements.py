"""Which agreement governs a caller, and what it lets the caller submit."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from counterflow.errors import CounterflowError, ErrorCode
from hub.policy.models import Agreement
from hub.policy.registry import PolicyRegistry
from hub.storage.interface import EpochActivation, Storage


def agreement_for(registry: PolicyRegistry, partner_id: str) -> Agreement:
    """The partner's agreement in force; a certificate without one is not a partner."""
    agreement = registry.current().get(partner_id)
    if agreement is None:
        raise CounterflowError(
            ErrorCode.UNKNOWN_PARTNER,
            f"no agreement for partner {partner_id}",
            {"partner_id": partner_id},
        )
    return agreement


@dataclass(frozen=True)
class AgreementView:
    agreement: Agreement
    active_key_epoch: int
    max_batch_items: int


def describe(
    registry: PolicyRegistry, storage: Storage, partner_id: str, max_batch_items: int
) -> AgreementView:
    agreement = agreement_for(registry, partner_id)
    return AgreementView(agreement, storage.active_epoch(partner_id), max_batch_items)


def activate_epoch(
    registry: PolicyRegistry, storage: Storage, partner_id: str, key_epoch: int, today: dt.date
) -> EpochActivation:
    agreement_for(registry, partner_id).check_active(today)
    if key_epoch < 1:
        raise CounterflowError(ErrorCode.INVALID_REQUEST, "key epoch starts at 1")
    return storage.activate_epoch(partner_id, key_epoch)
