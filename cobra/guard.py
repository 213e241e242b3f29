"""The contact guard: may this customer be contacted on this channel, and when?

Every contact cobra plans or sends passes :meth:`Guard.check`. The rules come
from one *profile* per country, a TOML file (``config/profiles/CL.toml``,
installed as ``cobra_starter/profiles``): the hours contact is allowed in the
customer's local time, whether public holidays are free of contact, and
limits such as "at most two written messages in 7 days, 2 days apart". A
contact the rules do not allow is moved to the next moment they do, in the
customer's time zone; when no such moment comes within the horizon (14 days
unless configured) it is held. Every decision says why in plain words.

Account-level holds (opt-outs, disputes, fraud, promises) belong to planning,
not here; :meth:`Guard.requires_opt_out` tells a sender which messages must
carry an opt-out notice. docs/contact-rules.md describes the profiles.

    guard = Guard.from_config(config)
    decision = guard.check("CL", None, "sms", wanted, history)
    if decision.held: ...            # decision.reasons says why
    else: send_at = decision.at      # the requested moment, or a later one
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cobra.config import Config, Problem, format_problems, parse_toml
from cobra.config_schema import boolean, integer
from cobra.config_schema import timezone as timezone_problem
from cobra.errors import ConfigError

__all__ = [
    "CHANNELS",
    "INTERNAL",
    "Contact",
    "Decision",
    "Guard",
    "Limit",
    "Profile",
    "Window",
    "load_profiles",
    "overrides_problem",
]

CHANNELS = ("email", "sms", "whatsapp", "call", "visit", "third_party", "task")
# Work that never reaches the customer: a collector's own task, or handing the
# account to a third party (an agency, a lawyer). No profile limits them.
INTERNAL = frozenset({"third_party", "task"})
# The channels that can carry an opt-out notice, assumed to need one when no
# profile says otherwise.
WRITTEN = frozenset({"email", "sms", "whatsapp"})
ANY = "*"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)
DEFAULT_HORIZON_DAYS = 14

PROFILE_KEYS = (
    "country",
    "name",
    "sources",
    "timezone",
    "holidays",
    "holidays_allowed",
    "hours",
    "requires_opt_out",
    "opt_out_words",
    "limits",
)
# A profile that leaves out its holidays or sources is more likely a mistake
# than a choice, so only the lists that may well be empty have defaults (no
# opt_out_words: the global replies.opt_out_words).
REQUIRED_KEYS = PROFILE_KEYS[:7]
LIMIT_KEYS = (
    "name",
    "channels",
    "max",
    "per_days",
    "min_days_apart",
    "after_conversation_days",
)

_WINDOW = re.compile(r"(\d\d):(\d\d)-(\d\d):(\d\d)")
_COUNTRY = re.compile(r"[A-Z]{2}")
# One word as cobra.receipts.is_opt_out reads a reply's first word: "OPT OUT"
# or "STOP-ALL" could never match, so they are refused.
_ONE_WORD = re.compile(r"\w+")


# -- the records ---------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Contact allowed from *start* up to, not including, *end* (local time)."""

    start: time
    end: time

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class Limit:
    """A cap on how often, or how soon, the customer is contacted.

    Counted over the customer's local calendar days: at most *max* contacts
    on *channels* in any *per_days* days in a row; contacts at least
    *min_days_apart* days apart; none within *after_conversation_days* days
    of a conversation (its day counts as the first).
    """

    channels: frozenset[str]
    name: str
    max: int | None = None
    per_days: int | None = None
    min_days_apart: int | None = None
    after_conversation_days: int | None = None

    def covers(self, channel: str) -> bool:
        if channel in INTERNAL:
            return False
        return ANY in self.channels or channel in self.channels


@dataclass(frozen=True)
class Profile:
    """The contact rules of one country, validated."""

    country: str
    name: str
    sources: tuple[str, ...]
    timezone: str
    holidays: str  # a country code for the holidays library, or ""
    holidays_allowed: bool
    hours: tuple[tuple[Window, ...], ...]  # Monday first; () = no contact
    requires_opt_out: frozenset[str]
    limits: tuple[Limit, ...]
    source: str  # the file it came from, and any override
    # Words whose reply opts a customer of this country out; () when the
    # profile names none, and replies.opt_out_words applies.
    opt_out_words: tuple[str, ...] = ()


@dataclass(frozen=True)
class Contact:
    """A past (or already planned) contact with the customer.

    *conversation* is true for a call that reached the person.
    """

    at: datetime
    channel: str
    conversation: bool = False


@dataclass(frozen=True)
class Decision:
    """What the guard decided about one contact.

    - allowed: it may happen at the requested moment (``at`` is that moment);
    - moved (neither allowed nor held): it may happen at the later ``at``;
    - held: no allowed moment within the horizon (``at`` is None).

    *reasons* explains every rule that moved or held it, in plain words.
    """

    allowed: bool
    at: datetime | None
    held: bool = False
    reasons: list[str] = field(default_factory=list)

    @property
    def moved(self) -> bool:
        return not self.allowed and not self.held


# -- checking a profile --------------------------------------------------------


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return {int: "an integer", float: "a number", str: "a string"}.get(
        type(value), type(value).__name__
    )


def _unknown(name: str, known: Iterable[str], what: str) -> str:
    known = list(known)
    hint = difflib.get_close_matches(name, known, n=1)
    suggestion = f"; did you mean {hint[0]}?" if hint else ""
    return f"unknown {what} {name!r}{suggestion} ({what}s: {', '.join(known)})"


def _parse_window(text: object) -> Window | str:
    """The window *text* names, or what is wrong with it."""
    match = _WINDOW.fullmatch(text) if isinstance(text, str) else None
    if not match:
        return f'expected "HH:MM-HH:MM" such as "08:00-20:00", got {text!r}'
    h1, m1, h2, m2 = map(int, match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        return f"{text!r}: times run from 00:00 to 23:59"
    window = Window(time(h1, m1), time(h2, m2))
    if window.start >= window.end:
        return f"{text!r}: the start must be before the end"
    return window


def _windows_problem(value: object) -> str | None:
    if not isinstance(value, list):
        return (
            'expected a list of "HH:MM-HH:MM" windows ([] for no contact that '
            f"day), got {_kind(value)}"
        )
    windows = []
    for text in value:
        window = _parse_window(text)
        if isinstance(window, str):
            return window
        windows.append(window)
    windows.sort(key=lambda w: w.start)
    for first, second in pairwise(windows):
        if second.start < first.end:
            return f"windows {first} and {second} overlap"
    return None


def _channels_problem(value: object, *, allow_any: bool) -> str | None:
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        return f'expected a list of channels such as ["email", "sms"], got {value!r}'
    if allow_any:
        if ANY in value:
            return None if value == [ANY] else '"*" already means every channel'
        if not value:
            return 'empty: name at least one channel, or ["*"] for every channel'
    for channel in value:
        if channel not in CHANNELS:
            return _unknown(channel, CHANNELS, "channel")
        if channel in INTERNAL:
            return f"{channel} never reaches the customer, so no rule applies to it"
    return None


def _country_problem(value: object) -> str | None:
    if isinstance(value, str) and _COUNTRY.fullmatch(value):
        return None
    return f"expected a two-letter country code in capitals such as CL, got {value!r}"


def _name_problem(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return None
    return f"expected a name in words, got {value!r}"


def _sources_problem(value: object) -> str | None:
    if isinstance(value, list) and all(
        isinstance(s, str) and s.startswith(("https://", "http://")) for s in value
    ):
        return None
    return f"expected a list of web addresses (https://...), got {value!r}"


def _holidays_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return f'expected a country code or "", got {_kind(value)}'
    if not value:
        return None
    import holidays

    if value not in holidays.list_supported_countries():
        return (
            f"{value!r} is not a country the holidays library knows; "
            'write "" for no public holidays'
        )
    return None


def _opt_out_words_problem(value: object) -> str | None:
    example = 'expected a list of words such as ["STOP", "BAJA"]'
    if not isinstance(value, list):
        return f"{example}, got {_kind(value)}"
    if not value:
        # Nobody could opt out by replying; leaving the key out keeps the
        # global words instead.
        return (
            "empty: name at least one word, or leave the key out to use "
            "replies.opt_out_words"
        )
    for word in value:
        if not isinstance(word, str) or not word.strip():
            return f"{example}, got {word!r} among them"
        if not _ONE_WORD.fullmatch(word.strip()):
            return (
                f"{word!r} is not one word: a reply opts out when its first "
                "word is one of these"
            )
    return None


_VALUE_CHECKS = {
    "country": _country_problem,
    "name": _name_problem,
    "sources": _sources_problem,
    "timezone": timezone_problem,
    "holidays": _holidays_problem,
    "holidays_allowed": boolean,
    "requires_opt_out": lambda value: _channels_problem(value, allow_any=False),
    "opt_out_words": _opt_out_words_problem,
}


def _hours_problems(value: object, partial: bool, add) -> None:
    if not isinstance(value, dict):
        add("hours", f"expected a table of weekdays ({', '.join(WEEKDAYS)})")
        return
    for day, windows in value.items():
        if day not in WEEKDAYS:
            add(f"hours.{day}", _unknown(day, WEEKDAYS, "weekday"))
            continue
        message = _windows_problem(windows)
        if message:
            add(f"hours.{day}", message)
    missing = [day for day in WEEKDAYS if day not in value]
    if missing and not partial:
        # Every day spelled out: a forgotten day must not silently mean
        # "no rule", nor "no contact".
        add(
            "hours",
            f"missing {', '.join(missing)}; write {missing[0]} = [] "
            "for no contact that day",
        )


def _limits_problems(value: object, add) -> None:
    if not isinstance(value, list):
        add("limits", "expected an array of tables ([[limits]])")
        return
    for index, limit in enumerate(value, start=1):
        where = f"limits[{index}]"
        if not isinstance(limit, dict):
            add(where, "expected a table")
            continue
        for key in limit:
            if key not in LIMIT_KEYS:
                add(f"{where}.{key}", _unknown(key, LIMIT_KEYS, "key"))
        if "name" in limit and _name_problem(limit["name"]):
            add(f"{where}.name", _name_problem(limit["name"]))
        if "channels" not in limit:
            add(
                f"{where}.channels",
                'missing: name the channels it counts, or ["*"] for every channel',
            )
        else:
            message = _channels_problem(limit["channels"], allow_any=True)
            if message:
                add(f"{where}.channels", message)
        for key, minimum in (
            ("max", 0),
            ("per_days", 1),
            ("min_days_apart", 1),
            ("after_conversation_days", 1),
        ):
            if key in limit:
                message = integer(minimum)(limit[key])
                if message:
                    add(f"{where}.{key}", message)
        if ("max" in limit) != ("per_days" in limit):
            lacking = "per_days" if "max" in limit else "max"
            add(
                f"{where}.{lacking}",
                "missing: max and per_days go together (at most MAX contacts "
                "in PER_DAYS days)",
            )
        if not any(
            key in limit for key in ("max", "min_days_apart", "after_conversation_days")
        ):
            add(
                where,
                "limits nothing: give max and per_days, min_days_apart or "
                "after_conversation_days",
            )


def _profile_problems(
    data: dict, source: str, prefix: str = "", *, partial: bool = False
) -> list[Problem]:
    """Everything wrong with a profile's data, each with its file and key.

    *partial* checks an override: only the keys present, and not the country.
    """
    problems: list[Problem] = []

    def add(key: str, message: str) -> None:
        problems.append(Problem(source, prefix + key, message))

    for key, value in data.items():
        if key not in PROFILE_KEYS:
            add(key, _unknown(key, PROFILE_KEYS, "key"))
        elif key == "country" and partial:
            add(key, "a profile's country cannot be overridden")
        elif key == "hours":
            _hours_problems(value, partial, add)
        elif key == "limits":
            _limits_problems(value, add)
        else:
            message = _VALUE_CHECKS[key](value)
            if message:
                add(key, message)
    if partial:
        return problems
    for key in REQUIRED_KEYS:
        if key not in data:
            add(key, "missing")
    if data.get("holidays_allowed") is False and data.get("holidays") == "":
        add(
            "holidays_allowed",
            "false needs a holiday calendar: set holidays to a country code",
        )
    return problems


def _build(data: dict, source: str) -> Profile:
    """A Profile from data that :func:`_profile_problems` found no fault in."""
    hours = tuple(
        tuple(sorted((_parse_window(t) for t in data["hours"][day]), key=_start))
        for day in WEEKDAYS
    )
    limits = tuple(
        Limit(
            channels=frozenset(item["channels"]),
            name=item.get("name")
            or (
                "contacts"
                if item["channels"] == [ANY]
                else "contacts by " + " or ".join(item["channels"])
            ),
            max=item.get("max"),
            per_days=item.get("per_days"),
            min_days_apart=item.get("min_days_apart"),
            after_conversation_days=item.get("after_conversation_days"),
        )
        for item in data.get("limits", [])
    )
    return Profile(
        country=data["country"],
        name=data["name"],
        sources=tuple(data["sources"]),
        timezone=data["timezone"],
        holidays=data["holidays"],
        holidays_allowed=data["holidays_allowed"],
        hours=hours,
        requires_opt_out=frozenset(data.get("requires_opt_out", [])),
        limits=limits,
        source=source,
        opt_out_words=tuple(word.strip() for word in data.get("opt_out_words", [])),
    )


def _start(window: Window) -> time:
    return window.start


# -- loading -------------------------------------------------------------------


def _shipped_files() -> Iterator[tuple[str, str, str]]:
    """(source, text, file stem) of each profile shipped with cobra."""
    from importlib.resources import files

    folder = files("cobra_starter").joinpath("profiles")
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".toml"):
            yield str(item), item.read_text("utf-8"), item.name[: -len(".toml")]


def _folder_files(folder, source: str) -> Iterator[tuple[str, str, str]]:
    if not folder.is_dir():
        raise ConfigError(
            format_problems(
                [
                    Problem(
                        source,
                        "contact_rules.profiles_dir",
                        f"{folder} is not a folder",
                    )
                ]
            )
        )
    for path in sorted(folder.glob("*.toml")):
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read: {exc}") from None
        yield str(path), text, path.stem


def _merge(base: dict, over: dict) -> dict:
    """*over* laid on *base*: tables merge key by key, anything else replaces."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _origin(config: Config, dotted: str) -> str:
    """The file a config key (or any key under it) came from."""
    for key, source in config.origins.items():
        if key == dotted or key.startswith(dotted + "."):
            return source
    return str(config.path) if config.path else "the config"


def _overrides_shape(value: object) -> list[tuple[str, str]]:
    """(key, message) for each problem in the shape of contact_rules.overrides."""
    if not isinstance(value, dict):
        return [("", f"expected a table of country codes, got {_kind(value)}")]
    problems = []
    for country, table in value.items():
        message = _country_problem(country)
        if message:
            problems.append((country, message))
        elif not isinstance(table, dict):
            problems.append(
                (country, "expected a table of profile keys, such as { hours = ... }")
            )
    return problems


def overrides_problem(value: object) -> str | None:
    """What is wrong in ``contact_rules.overrides`` on its own (config check)."""
    shape = _overrides_shape(value)
    if shape:
        key, message = shape[0]
        return f"{key}: {message}" if key else message
    for country, table in value.items():
        problems = _profile_problems(table, "", f"{country}.", partial=True)
        if problems:
            return f"{problems[0].key}: {problems[0].message}"
    return None


def load_profiles(config: Config | None = None) -> dict[str, Profile]:
    """Every contact-rule profile, by country code, validated.

    The shipped profiles, replaced country by country by the files in
    ``contact_rules.profiles_dir``, then changed key by key by
    ``contact_rules.overrides``. Raises ConfigError listing every problem,
    each with its file and key.
    """
    found: dict[str, tuple[dict, str]] = {}
    problems: list[Problem] = []
    files = list(_shipped_files())
    folder = config.get("contact_rules.profiles_dir") if config else None
    if folder:
        path = config.resolve_path(str(folder))
        files += _folder_files(path, _origin(config, "contact_rules.profiles_dir"))
    for source, text, stem in files:
        data = parse_toml(text, source)
        here = _profile_problems(data, source)
        if _COUNTRY.fullmatch(stem) is None:
            here.append(
                Problem(source, "", "name the file after its country, such as CL.toml")
            )
        elif "country" in data and data["country"] != stem:
            here.append(
                Problem(
                    source,
                    "country",
                    f"{data['country']!r} does not match the file name {stem}.toml",
                )
            )
        problems += here
        if not here:
            found[stem] = (data, source)

    overrides = config.get("contact_rules.overrides") if config else None
    if overrides is not None:
        source = _origin(config, "contact_rules.overrides")
        prefix = "contact_rules.overrides."
        shape = _overrides_shape(overrides)
        problems += [
            Problem(source, prefix + key if key else prefix[:-1], message)
            for key, message in shape
        ]
        if shape:
            overrides = {}
        for country, table in overrides.items():
            where = f"{prefix}{country}."
            source = _origin(config, prefix + country)
            if country not in found:
                known = ", ".join(sorted(found)) or "none"
                problems.append(
                    Problem(
                        source,
                        prefix + country,
                        f"no contact-rule profile for {country} to override "
                        f"(profiles: {known}); put a whole profile in "
                        "contact_rules.profiles_dir",
                    )
                )
                continue
            here = _profile_problems(table, source, where, partial=True)
            base, base_source = found[country]
            merged = _merge(base, table)
            # Keys that are fine alone may still clash with the profile's.
            here = here or _profile_problems(merged, source, where)
            problems += here
            if not here:
                found[country] = (merged, f"{base_source} with overrides from {source}")

    if problems:
        raise ConfigError(format_problems(problems))
    return {
        code: _build(data, source) for code, (data, source) in sorted(found.items())
    }


# -- deciding ------------------------------------------------------------------


@lru_cache(maxsize=64)
def _calendar(code: str, year: int):
    import holidays

    return holidays.country_holidays(code, years=year)


def _holiday(profile: Profile, day: date) -> str | None:
    if not profile.holidays:
        return None
    return _calendar(profile.holidays, day.year).get(day)


def _closed_reason(profile: Profile, day: date) -> str | None:
    """Why no contact at all is allowed on this local day, or None."""
    if not profile.hours[day.weekday()]:
        name = DAY_NAMES[day.weekday()]
        return f"{name}: no contact on {name}s in {profile.country}"
    if not profile.holidays_allowed:
        holiday = _holiday(profile, day)
        if holiday:
            return (
                f"public holiday ({holiday}, {day}): no contact on public "
                f"holidays in {profile.country}"
            )
    return None


def _hours_reason(profile: Profile, local: datetime) -> str:
    closed = _closed_reason(profile, local.date())
    if closed:
        return closed
    windows = ", ".join(str(w) for w in profile.hours[local.weekday()])
    return (
        f"{local:%H:%M} on {DAY_NAMES[local.weekday()]} {local:%Y-%m-%d} "
        f"({local.tzinfo}) is outside the contact hours in {profile.country}: "
        f"{windows}"
    )


def _next_open(
    profile: Profile, zone: ZoneInfo, moment: datetime, deadline: datetime
) -> datetime | None:
    """The first moment at or after *moment* inside the hours, up to *deadline*."""
    local = moment.astimezone(zone)
    day = local.date()
    while datetime.combine(day, time(), zone) <= deadline:
        if _closed_reason(profile, day) is None:
            for window in profile.hours[day.weekday()]:
                if local < datetime.combine(day, window.end, zone):
                    found = max(local, datetime.combine(day, window.start, zone))
                    return found if found <= deadline else None
        day += timedelta(days=1)
    return None


def _span(first: date, last: date) -> str:
    if first == last:
        return f"on {first}"
    return f"in the {(last - first).days + 1} days from {first} to {last}"


def _limit_reason(limit: Limit, day: date, contacts: list[tuple[date, Contact]]):
    """Why *limit* forbids another contact on local *day*, or None."""
    counted = [when for when, contact in contacts if limit.covers(contact.channel)]
    if limit.max is not None and limit.per_days is not None:
        # Every run of per_days days that holds *day* must stay within max,
        # which also respects contacts already planned after it.
        for offset in range(limit.per_days):
            first = day - timedelta(days=limit.per_days - 1 - offset)
            last = first + timedelta(days=limit.per_days - 1)
            count = sum(first <= when <= last for when in counted)
            if count >= limit.max:
                return (
                    f"{limit.name}: {count} {_span(first, last)}, "
                    f"at most {limit.max} allowed"
                )
    if limit.min_days_apart:
        for when in sorted(counted):
            if abs((day - when).days) < limit.min_days_apart:
                return (
                    f"{limit.name} must be at least {limit.min_days_apart} days "
                    f"apart, and there is one on {when}"
                )
    if limit.after_conversation_days:
        for when, contact in sorted(contacts, key=lambda item: item[0]):
            if contact.conversation and (
                0 <= (day - when).days < limit.after_conversation_days
            ):
                free = when + timedelta(days=limit.after_conversation_days)
                return (
                    f"within {limit.after_conversation_days} days of a "
                    f"conversation on {when} (no {limit.name} before {free})"
                )
    return None


def _first_free_day(
    limit: Limit, day: date, contacts: list[tuple[date, Contact]], last: date
) -> date | None:
    while day < last:
        day += timedelta(days=1)
        if _limit_reason(limit, day, contacts) is None:
            return day
    return None


def _when(moment: datetime) -> str:
    return f"{DAY_NAMES[moment.weekday()]} {moment:%Y-%m-%d %H:%M} ({moment.tzinfo})"


def _check_channel(channel: str) -> None:
    if channel not in CHANNELS:
        raise ValueError(_unknown(str(channel), CHANNELS, "channel"))


def _check_aware(moment: datetime, what: str) -> None:
    # A naive time means "local to whom?": refuse rather than guess.
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime, got {moment!r}")


class Guard:
    """Decides when each contact may happen, under the country's profile.

    *default_country* names the profile for customers whose country has none
    (or is unknown); empty, such customers are held, since contacting them
    under no rules at all could break a law nobody configured.
    """

    def __init__(
        self,
        profiles: dict[str, Profile],
        default_country: str = "",
        horizon_days: int = DEFAULT_HORIZON_DAYS,
    ):
        if default_country and default_country not in profiles:
            known = ", ".join(sorted(profiles)) or "none"
            raise ConfigError(
                f"contact_rules.default_profile: no contact-rule profile for "
                f"{default_country!r} (profiles: {known})"
            )
        self.profiles = dict(profiles)
        self.default_country = default_country
        self.horizon_days = horizon_days

    @classmethod
    def from_config(cls, config: Config) -> Guard:
        """The guard the ``[contact_rules]`` section describes."""
        return cls(
            load_profiles(config),
            str(config.get("contact_rules.default_profile") or ""),
            int(config.get("contact_rules.horizon_days") or DEFAULT_HORIZON_DAYS),
        )

    def profile_for(self, country: str | None) -> Profile | None:
        """The profile that governs a customer of *country*, if any."""
        own = self.profiles.get((country or "").upper())
        return own or self.profiles.get(self.default_country)

    def requires_opt_out(self, country: str | None, channel: str) -> bool:
        """Whether a message on *channel* must carry an opt-out notice."""
        _check_channel(channel)
        profile = self.profile_for(country)
        if profile is None:
            # Unknown rules: a notice too many harms no one.
            return channel in WRITTEN
        return channel in profile.requires_opt_out

    def check(
        self,
        country: str | None,
        timezone: str | None,
        channel: str,
        wanted: datetime,
        history: Iterable[Contact] = (),
    ) -> Decision:
        """May a contact on *channel* happen at *wanted*, and if not, when?

        *timezone* is the customer's IANA time zone; None uses the profile's.
        *history* holds the customer's contacts, past and already planned.
        """
        _check_channel(channel)
        _check_aware(wanted, "wanted")
        history = list(history)
        for contact in history:
            _check_channel(contact.channel)
            _check_aware(contact.at, "Contact.at")
        if channel in INTERNAL:
            return Decision(
                True, wanted, reasons=[f"{channel} is internal: no contact rules"]
            )

        profile = self.profile_for(country)
        if profile is None:
            who = (
                f"no contact-rule profile for {country.upper()}"
                if country
                else "the customer's country is unknown"
            )
            return Decision(
                False,
                None,
                held=True,
                reasons=[
                    (
                        f"{who}, and contact_rules.default_profile is not set: "
                        "held until the country has rules"
                    )
                ],
            )
        try:
            zone = ZoneInfo(timezone or profile.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return Decision(
                False,
                None,
                held=True,
                reasons=[
                    (
                        f"{timezone!r} is not an IANA time zone, so the "
                        "customer's local time is unknown: held"
                    )
                ],
            )

        requested = wanted.astimezone(zone)
        deadline = requested + timedelta(days=self.horizon_days)
        contacts = [
            (contact.at.astimezone(zone).date(), contact)
            for contact in history
            if contact.channel not in INTERNAL
        ]
        limits = [limit for limit in profile.limits if limit.covers(channel)]
        reasons: list[str] = []

        def held() -> Decision:
            reasons.append(
                f"no allowed moment within {self.horizon_days} days of "
                f"{_when(requested)}: held"
            )
            return Decision(False, None, held=True, reasons=reasons)

        candidate = requested
        while True:
            opened = _next_open(profile, zone, candidate, deadline)
            if candidate == requested and opened != requested:
                reasons.append(_hours_reason(profile, requested))
            if opened is None:
                return held()
            candidate = opened
            blocking = [
                (limit, reason)
                for limit in limits
                if (reason := _limit_reason(limit, candidate.date(), contacts))
            ]
            if not blocking:
                break
            free_days = []
            for limit, reason in blocking:
                if reason not in reasons:
                    reasons.append(reason)
                free_days.append(
                    _first_free_day(limit, candidate.date(), contacts, deadline.date())
                )
            if None in free_days:
                return held()
            # No day before the latest of these can satisfy every limit; the
            # hours and the limits are checked again from there.
            candidate = datetime.combine(max(free_days), time(), zone)

        if candidate == requested:
            return Decision(True, wanted, reasons=reasons)
        reasons.append(f"moved to {_when(candidate)}")
        return Decision(False, candidate, reasons=reasons)
