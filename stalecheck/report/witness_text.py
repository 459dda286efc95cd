"""A witness step as one line of text, and as a JSON object, both from its record.

The line is what users read and quote: the actor, a colon, what happened, then
the other structures the step touched (TLB, I-cache) and every copy of the lines
it changed or read (``[X: L1.PE0=1* SC=1 mem=0]``, ``*`` marking a dirty copy).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stalecheck.machine.step_record import Actor, Effect, LineCopies, StepRecord


def step_text(rec: StepRecord) -> str:
    """``PE0 vcpu: LDR r1, X reads X=0 (Device-nGnRnE: from the PoC) [X: L1.PE0=1 SC=1* mem=0]``"""
    parts = [f"{rec.actor.label}: {rec.effect.text}", *rec.effect.views]
    if rec.shows_copies:
        parts.extend(str(lines) for lines in rec.after)
    return " ".join(parts)


def witness_lines(steps: Sequence[StepRecord]) -> list[str]:
    """The numbered lines ``stalecheck check`` and ``explain`` print."""
    return [f"{i:>3}. {step_text(rec)}" for i, rec in enumerate(steps, 1)]


def copies_json(lines: LineCopies) -> dict[str, Any]:
    return {
        "line": lines.line,
        "locations": list(lines.locations),
        "copies": [{"holder": c.holder, "values": list(c.values), "dirty": c.dirty} for c in lines.copies],
        "memory": list(lines.memory),
    }


def _actor_json(actor: Actor) -> dict[str, Any]:
    return {
        "kind": str(actor.kind),
        "name": actor.name,
        "pe": actor.pe if actor.pe >= 0 else None,
        "thread": actor.thread or None,
        "role": actor.role or None,
        "el": actor.el or None,
    }


def _effect_json(effect: Effect) -> dict[str, Any]:
    return {
        "text": effect.text,
        "memory_type": effect.memtype or None,
        "value": effect.value,
        "trap": effect.trap or None,
        "policy": list(effect.policy),
        "fault": effect.fault or None,
        "views": list(effect.views),
    }


def step_json(rec: StepRecord) -> dict[str, Any]:
    """One step as a JSON object: the record's fields, and the text line for reading."""
    return {
        "actor": _actor_json(rec.actor),
        "operation": rec.operation,
        "instruction": rec.instruction or None,
        "target": rec.target or None,
        "effect": _effect_json(rec.effect),
        "before": [copies_json(lines) for lines in rec.before],
        "after": [copies_json(lines) for lines in rec.after],
        "text": step_text(rec),
    }
