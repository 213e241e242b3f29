"""Collection strategies: which cadence of contacts each customer gets.

A strategy is a TOML file in ``config/strategies/`` (or the folder
``[plan] strategies_dir`` names, whose files replace shipped ones of the
same name). It says which customers it is for (diagnosis reason, segment,
amount band, promise state) and the steps of its cadence, each keyed on days
relative to the due date of the customer's oldest open invoice: negative
days are reminders before it falls due. Pressure rises along the cadence:
suggestion, then persuasion, then authority.

When several strategies match a customer, the one with the highest
``priority`` wins; two matching with the same priority is a configuration
error, reported by ``cobra config check``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from cobra.diagnosis import REASONS
from cobra.errors import ConfigError

METHODS = ("suggestion", "persuasion", "authority")
TACTICS = (
    "rational_persuasion",
    "apprising",
    "consultation",
    "exchange",
    "collaboration",
    "personal_appeal",
    "ingratiation",
    "legitimating",
    "pressure",
    "coalition",
    "inspirational_appeal",
)
BUILTIN_CHANNELS = ("email", "sms", "whatsapp", "call", "third_party", "task")
PROMISE_STATES = ("any", "none", "open", "broken")
BANDS = ("small", "medium", "large")


@dataclass(frozen=True)
class Step:
    day: int
    objective: str
    channel: str
    template: str
    tone: str
    method: str
    tactic: str
    variants: tuple[dict, ...] = ()  # each overrides template, tactic or channel
    learn: bool = False  # assign variants by Thompson sampling (cobra.learning)
    fixed_variant: int | None = None  # `variant = N`: everyone gets N

    def variant(self, index: int) -> Step:
        """The step with variant *index* applied (0 is the step itself)."""
        if index == 0:
            return self
        changes = self.variants[index - 1]
        return Step(
            self.day,
            self.objective,
            changes.get("channel", self.channel),
            changes.get("template", self.template),
            changes.get("tone", self.tone),
            self.method,
            changes.get("tactic", self.tactic),
            self.variants,
            self.learn,
            self.fixed_variant,
        )


@dataclass(frozen=True)
class Strategy:
    name: str
    description: str
    priority: int
    reasons: tuple[str, ...]
    segments: tuple[str, ...]
    bands: tuple[str, ...]
    promise: str
    steps: tuple[Step, ...]
    on_broken_promise: str | None
    on_failed_channel: dict[str, str] = field(default_factory=dict)
    source: str = ""

    def matches(
        self, reason: str, segment: str | None, band: str, promise: str
    ) -> bool:
        return (
            reason in self.reasons
            and (not self.segments or segment in self.segments)
            and (not self.bands or band in self.bands)
            and (self.promise == "any" or self.promise == promise)
        )

    def due_step(self, days: int) -> int | None:
        """Index of the latest step due *days* after the oldest due date."""
        due = [i for i, step in enumerate(self.steps) if step.day <= days]
        return due[-1] if due else None


def known_channels(config=None) -> tuple[str, ...]:
    """The built-in channels and those the config binds (``[channels.NAME]``)."""
    configured = dict(config.get("channels") or {}) if config is not None else {}
    return BUILTIN_CHANNELS + tuple(
        name for name in sorted(configured) if name not in BUILTIN_CHANNELS
    )


def _strategy_files(config) -> dict[str, tuple[str, str]]:
    """name -> (text, where it came from): shipped files, then the user's."""
    from importlib.resources import files

    found = {}
    shipped = files("cobra_starter").joinpath("strategies")
    for entry in sorted(shipped.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            found[entry.name[:-5]] = (
                entry.read_text("utf-8"),
                f"strategies/{entry.name}",
            )
    folder = config.get("plan.strategies_dir") if config is not None else None
    if folder:
        path = config.resolve_path(folder)
        if not path.is_dir():
            raise ConfigError(f"plan.strategies_dir: {path} is not a folder")
        for file in sorted(Path(path).glob("*.toml")):
            found[file.stem] = (file.read_text("utf-8"), str(file))
    return found


def load(
    config,
    channels: tuple[str, ...] | None = None,
    templates: set[str] | None = None,
) -> list[Strategy]:
    """Every strategy, checked; *channels* are the names a step may use (the
    config's :func:`known_channels` when not given), *templates*, when
    given, the template names that exist."""
    from cobra.config import parse_toml

    if channels is None:
        channels = known_channels(config)

    strategies = []
    for name, (text, source) in _strategy_files(config).items():
        data = parse_toml(text, source)
        strategies.append(_strategy(name, data, source, channels, templates))
    _check_links_and_overlaps(strategies)
    return strategies


def _fail(source: str, key: str, message: str) -> ConfigError:
    return ConfigError(f"{source}: {key}: {message}")


def _choice(value, allowed, source, key) -> str:
    if value not in allowed:
        hint = difflib.get_close_matches(str(value), allowed, n=1)
        extra = f"; did you mean {hint[0]!r}?" if hint else ""
        raise _fail(
            source, key, f"unknown value {value!r}{extra} (one of {', '.join(allowed)})"
        )
    return value


def _strategy(name, data, source, channels, templates) -> Strategy:
    known = {"name", "description", "priority", "match", "steps", "on"}
    for key in data:
        if key not in known:
            raise _fail(
                source, key, f"unknown key (keys are {', '.join(sorted(known))})"
            )
    match = data.get("match", {})
    for key in match:
        if key not in ("reasons", "segments", "amount_bands", "promise"):
            raise _fail(
                source,
                f"match.{key}",
                "unknown key (reasons, segments, amount_bands, promise)",
            )
    reasons = tuple(
        _choice(r, REASONS, source, "match.reasons") for r in match.get("reasons", [])
    )
    if not reasons:
        raise _fail(source, "match.reasons", "name at least one reason")
    bands = tuple(
        _choice(b, BANDS, source, "match.amount_bands")
        for b in match.get("amount_bands", [])
    )
    promise = _choice(
        match.get("promise", "any"), PROMISE_STATES, source, "match.promise"
    )
    priority = data.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise _fail(source, "priority", "expected an integer")

    steps = []
    for index, raw in enumerate(data.get("steps", []), start=1):
        key = f"steps[{index}]"
        if not isinstance(raw, dict):
            raise _fail(source, key, "expected a table ([[steps]])")
        if (
            "day" not in raw
            or isinstance(raw["day"], bool)
            or not isinstance(raw["day"], int)
        ):
            raise _fail(
                source,
                f"{key}.day",
                "every step needs a whole number of days "
                "(negative: before the due date)",
            )
        for field_name in (
            "objective",
            "channel",
            "template",
            "tone",
            "method",
            "tactic",
        ):
            if not isinstance(raw.get(field_name), str) or not raw[field_name]:
                raise _fail(source, f"{key}.{field_name}", "missing")
        unknown = set(raw) - {
            "day",
            "objective",
            "channel",
            "template",
            "tone",
            "method",
            "tactic",
            "variants",
            "learn",
            "variant",
        }
        if unknown:
            raise _fail(source, f"{key}.{sorted(unknown)[0]}", "unknown key")
        _choice(raw["channel"], channels, source, f"{key}.channel")
        _choice(raw["method"], METHODS, source, f"{key}.method")
        _choice(raw["tactic"], TACTICS, source, f"{key}.tactic")
        variants = tuple(raw.get("variants", ()))
        for number, variant in enumerate(variants, start=1):
            vkey = f"{key}.variants[{number}]"
            if (
                not isinstance(variant, dict)
                or not variant
                or set(variant) - {"template", "tactic", "channel", "tone"}
            ):
                raise _fail(
                    source, vkey, "a variant changes template, tactic, channel or tone"
                )
            if "channel" in variant:
                _choice(variant["channel"], channels, source, f"{vkey}.channel")
            if "tactic" in variant:
                _choice(variant["tactic"], TACTICS, source, f"{vkey}.tactic")
        learn = raw.get("learn", False)
        if not isinstance(learn, bool):
            raise _fail(source, f"{key}.learn", "expected true or false")
        fixed = raw.get("variant")
        if fixed is not None and (
            isinstance(fixed, bool)
            or not isinstance(fixed, int)
            or not 0 <= fixed <= len(variants)
        ):
            raise _fail(
                source,
                f"{key}.variant",
                f"expected 0 (the step itself) to {len(variants)} (its last variant)",
            )
        for tkey, template in [(f"{key}.template", raw["template"])] + [
            (f"{key}.variants[{n}].template", v["template"])
            for n, v in enumerate(variants, start=1)
            if "template" in v
        ]:
            if templates is not None and template not in templates:
                hint = difflib.get_close_matches(template, sorted(templates), n=1)
                extra = f"; did you mean {hint[0]!r}?" if hint else ""
                raise _fail(source, tkey, f"no template named {template!r}{extra}")
        steps.append(
            Step(
                raw["day"],
                raw["objective"],
                raw["channel"],
                raw["template"],
                raw["tone"],
                raw["method"],
                raw["tactic"],
                variants,
                learn,
                fixed,
            )
        )
    if not steps:
        raise _fail(source, "steps", "a strategy needs at least one step")
    if [s.day for s in steps] != sorted(s.day for s in steps):
        raise _fail(source, "steps", "steps must be in order of their day")

    on = data.get("on", {})
    failed = on.get("failed_channel", {})
    if not isinstance(failed, dict):
        raise _fail(
            source, "on.failed_channel", 'expected a table such as { email = "sms" }'
        )
    for failing, fallback in failed.items():
        _choice(failing, channels, source, f"on.failed_channel.{failing}")
        _choice(fallback, channels, source, f"on.failed_channel.{failing}")
    return Strategy(
        name=data.get("name", name),
        description=data.get("description", ""),
        priority=priority,
        reasons=reasons,
        segments=tuple(match.get("segments", [])),
        bands=bands,
        promise=promise,
        steps=tuple(steps),
        on_broken_promise=on.get("broken_promise"),
        on_failed_channel=dict(failed),
        source=source,
    )


def _check_links_and_overlaps(strategies: list[Strategy]) -> None:
    names = {s.name for s in strategies}
    for strategy in strategies:
        target = strategy.on_broken_promise
        if target and target not in names:
            raise _fail(
                strategy.source, "on.broken_promise", f"no strategy named {target!r}"
            )
    # Two strategies that can match the same customer need different
    # priorities, or the choice between them would be arbitrary.
    for i, a in enumerate(strategies):
        for b in strategies[i + 1 :]:
            if a.priority != b.priority:
                continue
            if (
                _overlap(a.reasons, b.reasons)
                and _overlap(a.segments, b.segments)
                and _overlap(a.bands, b.bands)
                and (a.promise == b.promise or "any" in (a.promise, b.promise))
            ):
                raise _fail(
                    b.source,
                    "priority",
                    f"strategies {a.name!r} ({a.source}) and {b.name!r} can both "
                    f"match the same customer with the same priority {a.priority}; "
                    "give one a higher priority",
                )


def _overlap(first: tuple, second: tuple) -> bool:
    """Whether two match lists can both hold (an empty list matches anything)."""
    return not first or not second or bool(set(first) & set(second))


def choose(
    strategies: list[Strategy],
    reason: str,
    segment: str | None,
    band: str,
    promise: str,
) -> Strategy | None:
    matching = [s for s in strategies if s.matches(reason, segment, band, promise)]
    return max(matching, key=lambda s: s.priority) if matching else None


def by_name(strategies: list[Strategy], name: str) -> Strategy | None:
    return next((s for s in strategies if s.name == name), None)
