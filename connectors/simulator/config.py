"""The simulator's true arm effects from a JSON setting.

The setting is one JSON object, arm id -> effect::

    {"challenge+comment_answer": {"ctr_lift": 0.25, "retention_shift": 3}}

Unknown arm ids and unknown fields are refused rather than ignored: a typo ("ctr": 0.25, or
"challenge+coment_answer") would otherwise silently leave the demo with no effect to find.
Arms the setting does not name have no effect. A blank setting means ``DEFAULT_EFFECTS``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from agents.drafting.arms import ARMS
from connectors.simulator.audience import DEFAULT_EFFECTS, ArmEffect

__all__ = ["DEFAULT_EFFECTS", "EffectsConfigError", "effects_from_setting", "parse_effects"]

_FIELDS = ("ctr_lift", "retention_shift")


class EffectsConfigError(ValueError):
    """The effects setting is not valid; the message names the arm and field at fault.

    A ValueError so a pydantic-settings validator reports it as a settings error at startup.
    """


def _number(arm_id: str, name: str, value: object) -> float:
    # bool is an int subclass: "ctr_lift": true is a mistake, not 1.0.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise EffectsConfigError(f"{arm_id}.{name} must be a number, got {json.dumps(value)}")
    number = float(value)
    if not math.isfinite(number):
        raise EffectsConfigError(f"{arm_id}.{name} must be finite, got {value}")
    return number


def parse_effects(text: str, known_arms: Iterable[str] | None = None) -> Mapping[str, ArmEffect]:
    """The effects named by the JSON object ``text``. ``known_arms`` (default: the experiment's
    catalogue) lists the arm ids allowed; raises ``EffectsConfigError`` with the first fault."""
    known = frozenset(known_arms) if known_arms is not None else frozenset(a.arm_id for a in ARMS)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EffectsConfigError(f"effects are not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise EffectsConfigError(
            f"effects must be a JSON object of arm id -> effect, got {type(raw).__name__}"
        )
    effects: dict[str, ArmEffect] = {}
    for arm_id, spec in raw.items():
        if arm_id not in known:
            raise EffectsConfigError(
                f"unknown arm {arm_id!r}; known arms: {', '.join(sorted(known))}"
            )
        if not isinstance(spec, dict):
            raise EffectsConfigError(
                f"{arm_id} must map to an object with {' and/or '.join(_FIELDS)}, "
                f"got {json.dumps(spec)}"
            )
        unknown = sorted(set(spec) - set(_FIELDS))
        if unknown:
            raise EffectsConfigError(
                f"{arm_id}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(_FIELDS)}"
            )
        values = {name: _number(arm_id, name, spec[name]) for name in _FIELDS if name in spec}
        try:
            effects[arm_id] = ArmEffect(**values)
        except ValueError as exc:
            raise EffectsConfigError(f"{arm_id}: {exc}") from exc
    return MappingProxyType(effects)


def effects_from_setting(
    text: str | None, known_arms: Iterable[str] | None = None
) -> Mapping[str, ArmEffect]:
    """``DEFAULT_EFFECTS`` for an unset or blank setting, else ``parse_effects(text)``."""
    if text is None or not text.strip():
        return DEFAULT_EFFECTS
    return parse_effects(text, known_arms)
