"""The contact guard: per-country hours, holidays and limits; profile files.

Every date is a fixed day of 2026 and every datetime is aware. November 2026
starts on a Sunday: 2026-11-02 is a Monday, 2026-11-08 a Sunday. Chile is on
summer time then (UTC-3), the United States on standard time (New York UTC-5,
Los Angeles UTC-8), Colombia and Mexico City on UTC-5 and UTC-6 all year.
"""

from __future__ import annotations

from datetime import datetime, timezone
from importlib.resources import files
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cobra import config as config_module
from cobra.errors import ConfigError
from cobra.guard import Contact, Guard, load_profiles

SANTIAGO = ZoneInfo("America/Santiago")
NEW_YORK = ZoneInfo("America/New_York")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
BOGOTA = ZoneInfo("America/Bogota")
MEXICO_CITY = ZoneInfo("America/Mexico_City")
TIJUANA = ZoneInfo("America/Tijuana")
UTC = timezone.utc

SHIPPED_CL = files("cobra_starter").joinpath("profiles", "CL.toml").read_text("utf-8")


@pytest.fixture(scope="module")
def guard():
    return Guard(load_profiles())


def at(zone, month, day, hour=10, minute=0, year=2026):
    return datetime(year, month, day, hour, minute, tzinfo=zone)


def allowed(decision, wanted):
    assert decision.allowed, decision.reasons
    assert not decision.held and not decision.moved
    assert decision.at == wanted
    return decision


def moved(decision, to):
    assert decision.moved, decision.reasons
    assert not decision.allowed and not decision.held
    assert decision.at == to
    # Same instant and same wall time: the answer is in the customer's zone.
    assert decision.at.utcoffset() == to.utcoffset()
    return decision


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# -- the shipped profiles ----------------------------------------------------------


def test_every_starter_profile_loads_with_its_public_sources():
    profiles = load_profiles()
    assert sorted(profiles) == ["CL", "CO", "MX", "US"]
    for code, profile in profiles.items():
        assert profile.country == code
        assert profile.sources
        assert all(url.startswith(("https://", "http://")) for url in profile.sources)
        assert profile.source.endswith(f"{code}.toml")
        ZoneInfo(profile.timezone)


# -- Chile -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hour, minute, to",
    [
        (7, 59, at(SANTIAGO, 11, 2, 8, 0)),
        (8, 0, None),
        (19, 59, None),
        (20, 0, at(SANTIAGO, 11, 3, 8, 0)),
    ],
)
def test_chile_hours_at_the_edge_minutes(guard, hour, minute, to):
    wanted = at(SANTIAGO, 11, 2, hour, minute)  # a Monday
    decision = guard.check("CL", None, "sms", wanted, [])
    if to is None:
        allowed(decision, wanted)
    else:
        moved(decision, to)
        assert "outside the contact hours in CL: 08:00-20:00" in decision.reasons[0]


def test_chile_saturday_is_allowed_sunday_is_moved_to_monday(guard):
    allowed(
        guard.check("CL", None, "call", at(SANTIAGO, 11, 7), []), at(SANTIAGO, 11, 7)
    )
    decision = guard.check("CL", None, "call", at(SANTIAGO, 11, 8), [])
    moved(decision, at(SANTIAGO, 11, 9, 8, 0))
    assert decision.reasons == [
        "Sunday: no contact on Sundays in CL",
        "moved to Monday 2026-11-09 08:00 (America/Santiago)",
    ]


def test_chile_public_holidays_are_skipped(guard):
    # 18 and 19 September are national holidays, the 20th a Sunday.
    decision = guard.check("CL", None, "email", at(SANTIAGO, 9, 18), [])
    moved(decision, at(SANTIAGO, 9, 21, 8, 0))
    assert "public holiday (" in decision.reasons[0]
    assert "2026-09-18): no contact on public holidays in CL" in decision.reasons[0]


def test_a_request_in_the_servers_time_is_judged_in_the_customers(guard):
    # 10:30 UTC is 07:30 in Santiago: too early there, whatever the server says.
    decision = guard.check("CL", None, "sms", datetime(2026, 11, 2, 10, 30, tzinfo=UTC))
    moved(decision, at(SANTIAGO, 11, 2, 8, 0))
    assert decision.at.astimezone(UTC) == datetime(2026, 11, 2, 11, 0, tzinfo=UTC)


def test_chile_one_call_or_visit_a_week(guard):
    history = [Contact(at(SANTIAGO, 11, 2, 11), "visit")]
    decision = guard.check("CL", None, "call", at(SANTIAGO, 11, 4), history)
    moved(decision, at(SANTIAGO, 11, 9, 8, 0))
    assert decision.reasons[0] == (
        "calls or visits: 1 in the 7 days from 2026-10-29 to 2026-11-04, "
        "at most 1 allowed"
    )
    # Written messages are counted apart from calls.
    allowed(
        guard.check("CL", None, "sms", at(SANTIAGO, 11, 4), history),
        at(SANTIAGO, 11, 4),
    )


def test_chile_a_third_written_message_in_a_week_waits_for_the_window(guard):
    history = [
        Contact(at(SANTIAGO, 11, 2, 9), "email"),
        Contact(at(SANTIAGO, 11, 4, 9), "sms"),
    ]
    decision = guard.check("CL", None, "whatsapp", at(SANTIAGO, 11, 6), history)
    # Any 7 days that hold Friday the 6th hold both messages until the 2nd
    # falls out of the window: Monday the 9th (6 November to the 9th holds
    # only the 4th).
    moved(decision, at(SANTIAGO, 11, 9, 8, 0))
    assert decision.reasons[0].startswith("written messages: 2 in the 7 days from")


def test_chile_written_messages_two_days_apart(guard):
    history = [Contact(at(SANTIAGO, 11, 2, 19), "sms")]
    decision = guard.check("CL", None, "email", at(SANTIAGO, 11, 3, 9), history)
    moved(decision, at(SANTIAGO, 11, 4, 8, 0))
    assert decision.reasons[0] == (
        "written messages must be at least 2 days apart, and there is one on 2026-11-02"
    )
    allowed(
        guard.check("CL", None, "email", at(SANTIAGO, 11, 4, 9), history),
        at(SANTIAGO, 11, 4, 9),
    )


def test_contacts_already_planned_later_also_count(guard):
    # A message planned for Thursday the 5th: Wednesday is too close to it.
    history = [Contact(at(SANTIAGO, 11, 5, 9), "sms")]
    decision = guard.check("CL", None, "sms", at(SANTIAGO, 11, 4, 9), history)
    moved(decision, at(SANTIAGO, 11, 7, 8, 0))


# -- United States ---------------------------------------------------------------


def test_us_customer_in_los_angeles_is_called_at_eight_there(guard):
    wanted = at(LOS_ANGELES, 11, 2, 6, 30)
    decision = guard.check("US", "America/Los_Angeles", "call", wanted, [])
    moved(decision, at(LOS_ANGELES, 11, 2, 8, 0))
    assert decision.at.astimezone(UTC) == datetime(2026, 11, 2, 16, 0, tzinfo=UTC)
    assert "06:30 on Monday 2026-11-02 (America/Los_Angeles)" in decision.reasons[0]


def test_us_without_a_time_zone_uses_new_york(guard):
    # 13:00 UTC is 08:00 in New York: allowed; 12:59 UTC is not.
    wanted = datetime(2026, 11, 2, 13, 0, tzinfo=UTC)
    allowed(guard.check("US", None, "sms", wanted, []), wanted)
    early = datetime(2026, 11, 2, 12, 59, tzinfo=UTC)
    moved(guard.check("US", None, "sms", early, []), at(NEW_YORK, 11, 2, 8, 0))


@pytest.mark.parametrize(
    "hour, minute, to",
    [
        (7, 59, at(NEW_YORK, 11, 8, 8, 0)),
        (8, 0, None),
        (20, 59, None),
        (21, 0, at(NEW_YORK, 11, 9, 8, 0)),
    ],
)
def test_us_hours_every_day_including_sunday(guard, hour, minute, to):
    wanted = at(NEW_YORK, 11, 8, hour, minute)  # a Sunday
    decision = guard.check("US", "America/New_York", "call", wanted, [])
    if to is None:
        allowed(decision, wanted)
    else:
        moved(decision, to)


def test_us_public_holidays_are_allowed_by_regulation_f(guard):
    # The library knows 4 July as Independence Day; the rule does not forbid it.
    wanted = at(NEW_YORK, 7, 4)
    allowed(guard.check("US", None, "call", wanted, []), wanted)


def test_us_seven_calls_in_seven_days(guard):
    history = [Contact(at(NEW_YORK, 11, day, 9), "call") for day in range(2, 9)]
    decision = guard.check("US", None, "call", at(NEW_YORK, 11, 8, 15), history)
    # The 9th: the 7 days from the 3rd hold 6 calls.
    moved(decision, at(NEW_YORK, 11, 9, 8, 0))
    assert decision.reasons[0] == (
        "call attempts: 7 in the 7 days from 2026-11-02 to 2026-11-08, "
        "at most 7 allowed"
    )
    # Six calls leave room for a seventh; messages are not call attempts.
    allowed(
        guard.check("US", None, "call", at(NEW_YORK, 11, 8, 15), history[:6]),
        at(NEW_YORK, 11, 8, 15),
    )
    allowed(
        guard.check("US", None, "email", at(NEW_YORK, 11, 8, 15), history),
        at(NEW_YORK, 11, 8, 15),
    )


def test_us_no_call_within_seven_days_after_a_conversation(guard):
    history = [Contact(at(NEW_YORK, 11, 30, 10), "call", conversation=True)]
    decision = guard.check("US", None, "call", at(NEW_YORK, 12, 3), history)
    # The day of the conversation is the first of the seven.
    moved(decision, at(NEW_YORK, 12, 7, 8, 0))
    assert decision.reasons[0] == (
        "within 7 days of a conversation on 2026-11-30 "
        "(no call attempts before 2026-12-07)"
    )
    allowed(
        guard.check("US", None, "sms", at(NEW_YORK, 12, 3), history),
        at(NEW_YORK, 12, 3),
    )
    # An attempt that did not reach the person does not start the wait.
    unanswered = [Contact(at(NEW_YORK, 11, 30, 10), "call")]
    allowed(
        guard.check("US", None, "call", at(NEW_YORK, 12, 3), unanswered),
        at(NEW_YORK, 12, 3),
    )


def test_opt_out_notice_is_required_in_us_electronic_messages(guard):
    assert guard.requires_opt_out("US", "sms")
    assert guard.requires_opt_out("US", "email")
    assert guard.requires_opt_out("us", "whatsapp")
    assert not guard.requires_opt_out("US", "call")
    assert not guard.requires_opt_out("CL", "sms")
    # Without rules, written messages carry the notice anyway.
    assert guard.requires_opt_out("AR", "email")
    assert not guard.requires_opt_out("AR", "visit")


# -- Colombia ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "day, hour, minute, to",
    [
        # Monday the 9th (the 2nd is a holiday in Colombia).
        (9, 6, 59, at(BOGOTA, 11, 9, 7, 0)),
        (9, 7, 0, None),
        (9, 18, 59, None),
        (9, 19, 0, at(BOGOTA, 11, 10, 7, 0)),
        (7, 7, 30, at(BOGOTA, 11, 7, 8, 0)),  # Saturday opens at 08:00
        (7, 14, 59, None),
        (7, 15, 0, at(BOGOTA, 11, 9, 7, 0)),  # ...and closes at 15:00
        (8, 10, 0, at(BOGOTA, 11, 9, 7, 0)),  # Sunday
    ],
)
def test_colombia_hours(guard, day, hour, minute, to):
    wanted = at(BOGOTA, 11, day, hour, minute)
    decision = guard.check("CO", None, "call", wanted, [])
    if to is None:
        allowed(decision, wanted)
    else:
        moved(decision, to)


def test_colombia_public_holiday(guard):
    # Monday 20 July, Independence Day.
    decision = guard.check("CO", None, "sms", at(BOGOTA, 7, 20), [])
    moved(decision, at(BOGOTA, 7, 21, 7, 0))
    assert "no contact on public holidays in CO" in decision.reasons[0]


def test_colombia_one_contact_a_day_on_any_channel(guard):
    history = [Contact(at(BOGOTA, 11, 3, 9), "email")]
    decision = guard.check("CO", None, "call", at(BOGOTA, 11, 3, 15), history)
    moved(decision, at(BOGOTA, 11, 4, 7, 0))
    assert decision.reasons[0] == "contacts: 1 on 2026-11-03, at most 1 allowed"
    # Internal work is never limited.
    for channel in ("task", "third_party"):
        decision = guard.check("CO", None, channel, at(BOGOTA, 11, 3, 23), history)
        allowed(decision, at(BOGOTA, 11, 3, 23))


# -- Mexico ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hour, minute, to",
    [
        (6, 59, at(MEXICO_CITY, 11, 8, 7, 0)),
        (7, 0, None),
        (21, 59, None),
        (22, 0, at(MEXICO_CITY, 11, 9, 7, 0)),
    ],
)
def test_mexico_hours_every_day(guard, hour, minute, to):
    wanted = at(MEXICO_CITY, 11, 8, hour, minute)  # a Sunday
    decision = guard.check("MX", None, "visit", wanted, [])
    if to is None:
        allowed(decision, wanted)
    else:
        moved(decision, to)


def test_mexico_in_the_debtors_time_zone(guard):
    # 21:30 in Mexico City is 19:30 in Tijuana: allowed there.
    wanted = at(MEXICO_CITY, 11, 2, 21, 30)
    allowed(guard.check("MX", "America/Tijuana", "call", wanted, []), wanted)
    # 07:30 in Mexico City is 05:30 in Tijuana: moved to 07:00 Tijuana time.
    early = at(MEXICO_CITY, 11, 2, 7, 30)
    decision = guard.check("MX", "America/Tijuana", "call", early, [])
    moved(decision, at(TIJUANA, 11, 2, 7, 0))
    assert decision.at.astimezone(UTC) == datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


def test_mexico_public_holidays_are_allowed(guard):
    wanted = at(MEXICO_CITY, 9, 16)
    allowed(guard.check("MX", None, "call", wanted, []), wanted)


# -- holding -----------------------------------------------------------------------


def test_an_unknown_country_is_held_without_a_default_profile(guard):
    decision = guard.check("AR", None, "sms", at(UTC, 11, 2), [])
    assert decision.held and not decision.allowed and decision.at is None
    assert decision.reasons[0].startswith("no contact-rule profile for AR")
    assert guard.check(None, None, "sms", at(UTC, 11, 2), []).held


def test_a_default_profile_governs_countries_without_one():
    guard = Guard(load_profiles(), default_country="CL")
    decision = guard.check("AR", None, "sms", at(SANTIAGO, 11, 8), [])
    moved(decision, at(SANTIAGO, 11, 9, 8, 0))


def test_a_default_profile_must_exist():
    with pytest.raises(ConfigError, match="no contact-rule profile for 'AR'"):
        Guard(load_profiles(), default_country="AR")


def test_beyond_the_horizon_the_contact_is_held():
    guard = Guard(load_profiles(), horizon_days=3)
    history = [Contact(at(SANTIAGO, 11, 2, 9), "call")]
    decision = guard.check("CL", None, "call", at(SANTIAGO, 11, 3), history)
    assert decision.held and decision.at is None
    assert decision.reasons[0].startswith("calls or visits: 1 in the 7 days")
    assert decision.reasons[-1] == (
        "no allowed moment within 3 days of Tuesday 2026-11-03 10:00 "
        "(America/Santiago): held"
    )


def test_an_unknown_time_zone_is_held(guard):
    decision = guard.check("US", "America/Atlantis", "call", at(UTC, 11, 2), [])
    assert decision.held
    assert "'America/Atlantis' is not an IANA time zone" in decision.reasons[0]


def test_naive_times_and_unknown_channels_are_refused(guard):
    with pytest.raises(ValueError, match="aware"):
        guard.check("CL", None, "sms", datetime(2026, 11, 2, 10), [])
    with pytest.raises(ValueError, match="aware"):
        guard.check(
            "CL",
            None,
            "sms",
            at(SANTIAGO, 11, 2),
            [Contact(datetime(2026, 11, 1, 10), "sms")],
        )
    with pytest.raises(ValueError, match="unknown channel 'fax'"):
        guard.check("CL", None, "fax", at(SANTIAGO, 11, 2), [])


# -- profile files and configuration -----------------------------------------------


def user_profiles(isolated, name: str, text: str):
    """A config whose profiles_dir holds one file; returns (config, file)."""
    profile = write(isolated / "my-profiles" / name, text)
    write(isolated / "cobra.toml", '[contact_rules]\nprofiles_dir = "my-profiles"\n')
    return config_module.load(), profile


@pytest.mark.parametrize(
    "old, new, key, message",
    [
        (
            'mon = ["08:00-20:00"]',
            'mon = ["20:00-08:00"]',
            "hours.mon",
            "the start must be before the end",
        ),
        ('tue = ["08:00-20:00"]', 'tue = ["8-20"]', "hours.tue", '"HH:MM-HH:MM"'),
        (
            'wed = ["08:00-20:00"]',
            'wed = ["08:00-25:00"]',
            "hours.wed",
            "from 00:00 to 23:59",
        ),
        (
            'thu = ["08:00-20:00"]',
            'thur = ["08:00-20:00"]',
            "hours.thur",
            "unknown weekday 'thur'; did you mean thu?",
        ),
        (
            'timezone = "America/Santiago"',
            'timezone = "America/Atlantis"',
            "timezone",
            "not an IANA time zone",
        ),
        ("max = 1", "max = -1", "limits[1].max", "must be at least 0"),
        ('holidays = "CL"', 'holidays = "XX"', "holidays", "holidays library"),
        (
            'channels = ["call", "visit"]',
            'channels = ["call", "fax"]',
            "limits[1].channels",
            "unknown channel 'fax'",
        ),
        ('country = "CL"', 'country = "CO"', "country", "does not match the file name"),
    ],
)
def test_invalid_profile_files_name_the_file_and_the_key(
    isolated, old, new, key, message
):
    assert old in SHIPPED_CL
    with pytest.raises(ConfigError) as caught:
        user_profiles(isolated, "CL.toml", SHIPPED_CL.replace(old, new, 1))
        load_profiles(config_module.load())
    text = str(caught.value)
    assert f"{isolated / 'my-profiles' / 'CL.toml'}: {key}: " in text
    assert message in text
    assert caught.value.exit_code == 2


def test_a_profile_file_missing_keys_says_which(isolated):
    config, path = user_profiles(
        isolated,
        "AR.toml",
        'country = "AR"\nname = "Argentina"\n[hours]\nmon = ["09:00-18:00"]\n',
    )
    with pytest.raises(ConfigError) as caught:
        load_profiles(config)
    text = str(caught.value)
    for key in ("sources", "timezone", "holidays", "holidays_allowed"):
        assert f"{path}: {key}: missing" in text
    assert f"{path}: hours: missing tue, wed, thu, fri, sat, sun" in text


def test_a_users_profile_replaces_the_shipped_one_and_adds_countries(isolated):
    strict = SHIPPED_CL.replace('sat = ["08:00-20:00"]', "sat = []")
    write(isolated / "my-profiles" / "CL.toml", strict)
    argentina = (
        SHIPPED_CL.replace('country = "CL"', 'country = "AR"')
        .replace(
            'timezone = "America/Santiago"',
            'timezone = "America/Argentina/Buenos_Aires"',
        )
        .replace('holidays = "CL"', 'holidays = "AR"')
    )
    write(isolated / "my-profiles" / "AR.toml", argentina)
    write(isolated / "cobra.toml", '[contact_rules]\nprofiles_dir = "my-profiles"\n')
    guard = Guard.from_config(config_module.load())
    assert sorted(guard.profiles) == ["AR", "CL", "CO", "MX", "US"]
    assert guard.profiles["CL"].source == str(isolated / "my-profiles" / "CL.toml")
    moved(
        guard.check("CL", None, "sms", at(SANTIAGO, 11, 7), []),
        at(SANTIAGO, 11, 9, 8, 0),
    )
    assert not guard.check("AR", None, "sms", at(UTC, 11, 3, 14), []).held


def test_a_missing_profiles_dir_is_an_error(isolated):
    write(isolated / "cobra.toml", '[contact_rules]\nprofiles_dir = "nowhere"\n')
    with pytest.raises(
        ConfigError, match="contact_rules.profiles_dir: .*nowhere is not a folder"
    ):
        load_profiles(config_module.load())


def test_overrides_from_the_config_apply(isolated):
    write(
        isolated / "cobra.toml",
        "[contact_rules]\n"
        'default_profile = "CO"\n'
        "[contact_rules.overrides]\n"
        "CL = { hours = { sat = [] } }\n"
        "US = { holidays_allowed = false }\n",
    )
    guard = Guard.from_config(config_module.load())
    # Saturday in Chile is now closed; the other days keep their hours.
    decision = guard.check("CL", None, "sms", at(SANTIAGO, 11, 7), [])
    moved(decision, at(SANTIAGO, 11, 9, 8, 0))
    assert decision.reasons[0] == "Saturday: no contact on Saturdays in CL"
    allowed(
        guard.check("CL", None, "sms", at(SANTIAGO, 11, 6), []), at(SANTIAGO, 11, 6)
    )
    assert "with overrides from" in guard.profiles["CL"].source
    # 4 July is now free of contact in the US; the 5th is an ordinary Sunday.
    moved(
        guard.check("US", None, "call", at(NEW_YORK, 7, 4), []),
        at(NEW_YORK, 7, 5, 8, 0),
    )
    # Colombia's rules for a country without a profile.
    moved(
        guard.check("AR", None, "sms", at(BOGOTA, 11, 8), []), at(BOGOTA, 11, 9, 7, 0)
    )


@pytest.mark.parametrize(
    "override, key, message",
    [
        ('CL = { hours = { sat = ["9-12"] } }', "CL.hours.sat", '"HH:MM-HH:MM"'),
        ("CL = { hours = { satu = [] } }", "CL.hours.satu", "unknown weekday"),
        ('CL = { country = "CO" }', "CL.country", "cannot be overridden"),
        ('CL = { holidays = "" }', "CL.holidays_allowed", "needs a holiday calendar"),
        ("AR = { holidays_allowed = true }", "AR", "no contact-rule profile for AR"),
    ],
)
def test_bad_overrides_name_the_config_file_and_key(isolated, override, key, message):
    path = write(isolated / "cobra.toml", f"[contact_rules.overrides]\n{override}\n")
    # A key wrong on its own fails as the config loads; one that clashes with
    # the profile, or a country without one, when the profiles load.
    with pytest.raises(ConfigError) as caught:
        load_profiles(config_module.load())
    text = str(caught.value)
    assert f"{path}: contact_rules.overrides" in text
    assert f"{key}: " in text
    assert message in text
    assert caught.value.exit_code == 2


def test_config_check_reports_a_bad_override(isolated, run):
    write(
        isolated / "cobra.toml",
        '[contact_rules.overrides]\nCL = { hours = { sat = ["20:00-08:00"] } }\n',
    )
    result = run("config", "check")
    assert result.exit_code == 2
    assert "contact_rules.overrides: CL.hours.sat: '20:00-08:00'" in result.stderr
