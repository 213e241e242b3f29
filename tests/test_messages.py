"""Message templates: shipped copy in both languages, locale formatting, the
opt-out line, SMS length, language fallback, user overrides, the sandbox,
and template errors located by file and line."""

from __future__ import annotations

import dataclasses

from datetime import date
from pathlib import Path

import pytest

from cobra import config as config_module
from cobra import messages
from cobra.errors import ConfigError
from cobra.messages import MessageContext, MessageTemplateError, render
from cobra.money import Money

SHIPPED = {
    "reminder-friendly",
    "reminder-firm",
    "reminder-sms",
    "payment-options",
    "usage-explanation",
    "final-notice",
    "call-brief",
    "dispute-call-brief",
    "salesperson-brief",
    "instalment-reminder",
}
# Reminds of one payment-plan instalment: it lists no invoices.
PLAN = {"instalment-reminder"}
BRIEFS = {"call-brief", "dispute-call-brief", "salesperson-brief"}
CHANNELS = {
    "reminder-sms": "sms",
    "call-brief": "call",
    "dispute-call-brief": "call",
    "salesperson-brief": "third_party",
}

# Customers in four currencies: the amount is 1234567 minor units each time,
# so each currency's decimals show (CLP none, USD and EUR two, KWD three).
CUSTOMERS = {
    "CLP": {
        "customer_name": "Comercial Andes Ltda.",
        "language": "es",
        "country": "CL",
    },
    "USD": {"customer_name": "Acme Supplies Inc.", "language": "en", "country": "US"},
    "EUR": {
        "customer_name": "Distribuciones Iberia S.L.",
        "language": "es",
        "country": "ES",
    },
    "KWD": {"customer_name": "Gulf Trading Co.", "language": "en", "country": "KW"},
}
# Babel's locale is the language of the text with the customer's country
# when it knows that pair (es_CL, es_US, en_ES), else the language alone.
EXPECTED = {
    ("CLP", "es"): "$1.234.567",  # es_CL
    ("CLP", "en"): "CLP1,234,567",  # en (no en_CL)
    ("USD", "es"): "$12,345.67",  # es_US
    ("USD", "en"): "$12,345.67",  # en_US
    ("EUR", "es"): "12.345,67\xa0€",  # es_ES
    ("EUR", "en"): "12.345,67\xa0€",  # en_ES
    ("KWD", "es"): "1.234,567\xa0KWD",  # es (no es_KW)
    ("KWD", "en"): "KWD1,234.567",  # en (no en_KW)
}

# GSM 03.38: the basic alphabet counts one septet a character, the extension
# table two; an SMS of at most 160 septets is a single segment.
GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = set("^{}\\[~]|€")


def septets(text: str) -> int:
    outside = sorted(set(text) - GSM_BASIC - GSM_EXTENDED)
    assert not outside, f"characters outside the GSM alphabet: {outside}"
    return sum(2 if char in GSM_EXTENDED else 1 for char in text)


def invoice(number, currency, balance, due, *, days, amount=None, disputed=False):
    return {
        "number": number,
        "issue_date": date(due.year, due.month, 1),
        "due_date": due,
        "currency": currency,
        "amount": balance if amount is None else amount,
        "balance": balance,
        "days_overdue": days,
        "disputed": disputed,
    }


def chilean(**changes) -> MessageContext:
    """A Chilean customer with two invoices in pesos, one partly paid."""
    values = {
        "company": "Servicios Australes SpA",
        "customer_name": "Comercial Andes Ltda.",
        "account": "C-0042",
        "language": "es",
        "country": "CL",
        "invoices": [
            invoice("F-10231", "CLP", 1_234_567, date(2025, 2, 9), days=33),
            invoice(
                "F-10302",
                "CLP",
                425_000,
                date(2025, 3, 12),
                days=2,
                amount=850_000,
            ),
        ],
        "objective": "Obtener una fecha de pago",
        "reason": "forgot",
        "method": "suggestion",
        "tactic": "ingratiation",
        "evidence": ["pagó 11 de 12 facturas a tiempo"],
        "channel": "email",
    }
    values.update(changes)
    return MessageContext(**values)


def american(**changes) -> MessageContext:
    values = {
        "company": "Northwind Services LLC",
        "customer_name": "Acme Supplies Inc.",
        "account": "A-7",
        "language": "en",
        "country": "US",
        "invoices": [invoice("INV-2001", "USD", 123_456, date(2025, 2, 9), days=33)],
        "objective": "Get a payment date",
        "reason": "forgot",
        "method": "suggestion",
        "tactic": "rational_persuasion",
        "evidence": ["paid 23 of 24 invoices on time"],
    }
    values.update(changes)
    return MessageContext(**values)


def full_context(currency: str, language: str, name: str) -> MessageContext:
    """Every optional value set, three invoices, for one currency."""
    customer = CUSTOMERS[currency]
    return MessageContext(
        company="Example Company",
        account="K-1",
        customer_name=customer["customer_name"],
        language=language,
        country=customer["country"],
        invoices=[
            invoice("N-1", currency, 1_234_567, date(2025, 1, 31), days=42),
            invoice("N-2", currency, 1_000, date(2025, 2, 28), days=14, amount=3_000),
            invoice("N-3", currency, 9_999, date(2025, 3, 10), days=4, disputed=True),
        ],
        objective="Agree on a payment plan",
        reason="cannot_pay",
        method="persuasion",
        tactic="exchange",
        evidence=["three invoices overdue, more every month", "partial payments"],
        channel=CHANNELS.get(name, "email"),
        opt_out=None,
        contact_name="Dana Smith",
        salesperson="Luis Vera",
        collector="Marta Díaz",
        reply_to="collections@example.com",
        pay_url="https://pay.example.com/K-1",
        payment_instructions="Transfer to account 0001-2345.",
        pay_by=date(2025, 3, 21),
        escalation="refer the debt to a collection agency",
        terms="the supply agreement of 2024",
        plan_options=[
            {
                "installments": 3,
                "installment": 411_523,
                "currency": currency,
                "first_due": date(2025, 3, 31),
                "every": "month",
            }
        ],
        billing_details=["Support plan, 40 hours, February 2025"],
    )


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def user_config(isolated, templates: dict[str, str]):
    """A config file whose templates_dir holds ``templates`` (path -> text)."""
    write(isolated / "cobra.toml", '[messages]\ntemplates_dir = "mytemplates"\n')
    for relative, text in templates.items():
        write(isolated / "mytemplates" / relative, text)
    return config_module.load()


# -- The shipped templates -----------------------------------------------------


def test_every_template_ships_in_spanish_and_english():
    found = messages.list_templates()
    assert set(found) == SHIPPED
    for name, languages in found.items():
        assert {"es", "en"} <= set(languages), name
        for path in languages.values():
            assert path.is_relative_to(messages.shipped_dir())


def test_the_shipped_templates_have_no_problems():
    assert messages.check_templates() == []


@pytest.mark.parametrize("currency", sorted(CUSTOMERS))
@pytest.mark.parametrize("language", ["es", "en"])
@pytest.mark.parametrize("name", sorted(SHIPPED - PLAN))
def test_each_template_renders_with_a_realistic_context(name, language, currency):
    context = full_context(currency, language, name)
    message = render(name, language, context)

    assert message.language == language
    assert message.template_path.parent.name == language
    assert "None" not in message.body and "{" not in message.body
    assert context.customer_name in message.body or context.company in message.body
    amount = EXPECTED[(currency, language)]
    if name == "reminder-sms":
        assert message.subject is None
        assert "\n" not in message.body
        assert "Example Company" in message.body
    else:
        assert message.subject and "\n" not in message.subject
        assert amount in message.body, message.body
        for number in ("N-1", "N-2", "N-3"):
            assert number in message.body


@pytest.mark.parametrize("name", sorted(SHIPPED - BRIEFS - PLAN - {"reminder-sms"}))
def test_customer_emails_are_written_in_the_customers_language(name):
    spanish = render(name, "es", chilean(pay_by=date(2025, 3, 21)))
    english = render(name, "en", american(pay_by=date(2025, 3, 21)))
    assert "Factura F-10231" in spanish.body
    assert "Invoice INV-2001" in english.body
    # Spanish and English copy, not the same text with other numbers.
    assert " de " in spanish.body and " the " not in spanish.body
    assert " the " in english.body and " de " not in english.body


@pytest.mark.parametrize("language", ["es", "en"])
@pytest.mark.parametrize("name", sorted(SHIPPED - PLAN))
def test_only_briefs_list_and_count_the_invoices_in_dispute(name, language):
    # N-3 (99.99 USD, 4 days overdue) is in dispute: a message to the
    # customer asks for the other two only; a brief for a person shows all.
    context = full_context("USD", language, name)
    message = render(name, language, context)
    listed = [line for line in message.body.splitlines() if "N-3" in line]
    if name in BRIEFS:
        assert any(line.startswith("- ") for line in listed), message.body
        assert "[in dispute]" in message.body or "[en disputa]" in message.body
    else:
        assert not any(line.startswith("- ") for line in listed), message.body
        assert "99.99" not in message.body
        assert "$12,445.66" not in message.body  # N-1 + N-2 + N-3
        assert "$12,355.67" in message.body, message.body  # N-1 + N-2


@pytest.mark.parametrize(
    ("language", "maker", "overdue", "amount", "due", "subject"),
    [
        ("es", "chilean", False, "$150.000, vence el 15 de enero de 2027.",
         "15 de enero de 2027", "Plan de pago: cuota 2 de 4 vence el 15-01-2027"),
        ("en", "american", False, "$150,000.00, is due on January 15, 2027.",
         "January 15, 2027", "Payment plan: instalment 2 of 4 due Jan 15, 2027"),
        # A reminder caught up after a missed day goes out after the date.
        ("es", "chilean", True,
         "$150.000, venció el 15 de enero de 2027 y sigue pendiente.",
         "15 de enero de 2027", "Plan de pago: cuota 2 de 4 venció el 15-01-2027"),
        ("en", "american", True,
         "$150,000.00, was due on January 15, 2027 and is still open.",
         "January 15, 2027", "Payment plan: instalment 2 of 4 was due Jan 15, 2027"),
    ],
)
def test_the_instalment_reminder_names_the_instalment_in_the_customers_terms(
    language, maker, overdue, amount, due, subject
):
    base = globals()[maker]()
    currency = "CLP" if language == "es" else "USD"
    minor = 150_000 if currency == "CLP" else 15_000_000
    context = dataclasses.replace(base, instalment={
        "number": 2, "count": 4, "due": date(2027, 1, 15), "currency": currency,
        "amount": minor, "overdue": overdue})
    message = render("instalment-reminder", language, context)
    assert message.subject == subject
    assert amount in message.body and due in message.body
    assert "None" not in message.body and "{" not in message.body


# -- Formatting ----------------------------------------------------------------


def test_a_chilean_customer_sees_chilean_pesos_and_spanish_dates():
    message = render("reminder-friendly", "es", chilean(pay_by=date(2025, 3, 21)))
    assert "saldo de $1.234.567 (33 días de atraso)" in message.body
    assert "$425.000 sobre un total de $850.000" in message.body
    assert "Total vencido: $1.659.567" in message.body
    assert "con vencimiento el 09-02-2025" in message.body  # medium, es_CL
    assert "a más tardar el 21 de marzo de 2025" in message.body  # long
    assert message.subject == (
        "Recordatorio: 2 facturas pendientes de Servicios Australes SpA"
    )


def test_a_us_customer_sees_dollars_and_english_dates():
    message = render("reminder-friendly", "en", american(pay_by=date(2025, 3, 21)))
    assert "$1,234.56 outstanding (33 days overdue)" in message.body
    assert "due Feb 9, 2025" in message.body
    assert "by March 21, 2025" in message.body
    assert message.subject == (
        "Friendly reminder: invoice INV-2001 from Northwind Services LLC"
    )


def test_totals_are_kept_per_currency():
    context = american(
        invoices=[
            invoice("INV-1", "USD", 50_000, date(2025, 2, 1), days=40),
            invoice("INV-2", "EUR", 20_000, date(2025, 2, 1), days=40),
            invoice("INV-3", "USD", 10_000, date(2025, 4, 1), days=0),
        ]
    )
    message = render("call-brief", "en", context)
    assert "- EUR: €200.00\n- USD: $500.00" in message.body  # not yet due: left out
    assert "$600.00" not in message.body


def test_money_and_date_filters_accept_the_documented_forms(isolated):
    config = user_config(
        isolated,
        {
            "es/forms.j2": "{{ totals[0]|money }} {{ (150000, 'CLP')|money }} "
            "{{ 1234|money('USD') }} {{ '2025-01-15'|date }} "
            "{{ pay_by|date('short') }}\n"
        },
    )
    message = render("forms", "es", chilean(pay_by=date(2025, 3, 21)), config)
    assert message.body == ("$1.659.567 $150.000 US$12,34 15 de enero de 2025 21-03-25")


def test_a_wrong_value_for_the_money_filter_names_the_line(isolated):
    config = user_config(isolated, {"en/bad.j2": "Hello\n{{ 12.5|money }}\n"})
    with pytest.raises(MessageTemplateError, match=r"bad\.j2:2: the money filter"):
        render("bad", "en", american(), config)


# -- The opt-out line ----------------------------------------------------------


def test_the_opt_out_line_ends_an_email_when_required():
    required = american(opt_out=messages.default_opt_out("en", "email"))
    message = render("reminder-friendly", "en", required)
    assert message.body.endswith(
        "\n\nTo stop receiving these emails, reply with the word STOP."
    )
    assert "STOP" not in render("reminder-friendly", "en", american()).body


def test_the_opt_out_line_follows_an_sms_on_the_same_line():
    context = chilean(channel="sms", opt_out=messages.default_opt_out("es", "sms"))
    message = render("reminder-sms", "es", context)
    assert "\n" not in message.body
    assert message.body.endswith(". Para darse de baja, responda BAJA.")
    assert "BAJA" not in render("reminder-sms", "es", chilean(channel="sms")).body


@pytest.mark.parametrize("name", sorted(BRIEFS))
def test_briefs_for_people_never_carry_an_opt_out(name):
    context = american(channel="call", opt_out="Reply STOP to opt out.")
    assert "STOP" not in render(name, "en", context).body
    context.channel = "email"  # a brief mailed to a salesperson still has none
    assert "STOP" not in render(name, "en", context).body


# -- SMS -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "language"), [(chilean, "es"), (american, "en")], ids=["es", "en"]
)
def test_an_sms_for_one_invoice_fits_one_segment_with_its_opt_out(make, language):
    base = make(channel="sms")
    base.invoices = base.invoices[:1]
    bare = render("reminder-sms", language, base).body
    base.opt_out = messages.default_opt_out(language, "sms")
    with_opt_out = render("reminder-sms", language, base).body
    assert with_opt_out.startswith(bare)
    assert septets(with_opt_out) <= 160, with_opt_out
    assert base.invoices[0]["number"] in bare


def test_an_sms_for_several_invoices_gives_the_count_and_total():
    body = render("reminder-sms", "es", chilean(channel="sms")).body
    assert "2 facturas vencidas por $1.659.567" in body
    assert septets(body) <= 160


# -- Languages -----------------------------------------------------------------


def test_language_candidates_go_from_exact_to_english():
    assert messages.language_candidates("es-CL", "pt-BR") == [
        "es-CL",
        "es",
        "pt-BR",
        "pt",
        "en",
    ]
    assert messages.language_candidates(None, None) == ["en"]


def test_a_regional_tag_uses_its_base_language():
    message = render("reminder-friendly", "es-CL", chilean(language="es-CL"))
    assert message.language == "es"
    assert "$1.234.567" in message.body


def test_a_language_without_templates_falls_back_to_the_companys(isolated):
    write(isolated / "cobra.toml", '[company]\nlanguage = "es"\n')
    config = config_module.load()
    context = chilean(language="pt", country="BR")
    assert render("reminder-friendly", "pt", context, config).language == "es"
    # Without a config, English is the last resort; Brazil has no English
    # locale in Babel, so the amounts follow plain English.
    message = render("reminder-friendly", "pt", context)
    assert message.language == "en"
    assert "CLP1,234,567" in message.body


def test_an_arabic_speaking_kuwaiti_customer_reads_english_with_three_decimals():
    context = american(
        language="ar",
        country="KW",
        invoices=[invoice("KW-9", "KWD", 1_234_567, date(2025, 2, 9), days=33)],
    )
    message = render("reminder-friendly", "ar", context)
    assert message.language == "en"
    assert "KWD1,234.567 outstanding" in message.body


def test_an_unknown_template_name_suggests_the_nearest():
    with pytest.raises(ConfigError, match="did you mean 'reminder-friendly'"):
        render("reminder-frendly", "en", american())


# -- The user's templates ------------------------------------------------------


def test_a_user_folder_replaces_a_shipped_template_file_by_file(isolated):
    config = user_config(
        isolated,
        {
            "es/reminder-friendly.j2": (
                "subject: Aviso de {{ company }}\n"
                "\n"
                '{% import "_invoices.j2" as inv %}\n'
                "Hola {{ customer_name }}, tiene {{ inv.amounts(totals) }} por pagar.\n"
            ),
        },
    )
    mine = render("reminder-friendly", "es", chilean(), config)
    assert mine.template_path == isolated / "mytemplates/es/reminder-friendly.j2"
    assert mine.subject == "Aviso de Servicios Australes SpA"
    # The shipped partial serves the user's template.
    assert mine.body == "Hola Comercial Andes Ltda., tiene $1.659.567 por pagar."
    # Other names, and the same name in English, still come from cobra.
    english = render("reminder-friendly", "en", american(), config)
    assert english.template_path.is_relative_to(messages.shipped_dir())
    assert render("final-notice", "es", chilean(), config).template_path.is_relative_to(
        messages.shipped_dir()
    )
    assert messages.check_templates(config) == []


def test_a_user_folder_can_add_a_language(isolated):
    config = user_config(
        isolated,
        {
            "pt/reminder-sms.j2": (
                "channel: sms\n\n{{ company }}: a fatura {{ invoices[0].number }} "
                "de {{ totals[0]|money }} venceu em {{ invoices[0].due_date|date }}.\n"
            )
        },
    )
    context = chilean(language="pt", country="BR")
    message = render("reminder-sms", "pt", context, config)
    assert message.language == "pt"
    assert "CLP\xa01.659.567" in message.body
    assert "9 de fevereiro de 2025" in message.body


def test_a_missing_templates_folder_is_a_config_error(isolated):
    write(isolated / "cobra.toml", '[messages]\ntemplates_dir = "nowhere"\n')
    config = config_module.load()
    with pytest.raises(ConfigError, match="templates_dir: folder .*nowhere"):
        render("reminder-friendly", "en", american(), config)
    (problem,) = messages.check_templates(config)
    assert "does not exist" in problem.message


# -- Safety and errors ---------------------------------------------------------


def test_the_sandbox_refuses_python_internals(isolated):
    config = user_config(
        isolated, {"en/sneaky.j2": "subject: Hi\n\nHello\n{{ ''.__class__.__mro__ }}\n"}
    )
    with pytest.raises(ConfigError) as caught:
        render("sneaky", "en", american(), config)
    text = str(caught.value)
    assert "sneaky.j2:4: refused by the sandbox" in text
    assert "__class__" in text
    assert caught.value.exit_code == 2
    (problem,) = messages.check_templates(config)
    assert (problem.line, problem.message.split(":")[0]) == (
        4,
        "refused by the sandbox",
    )


def test_the_sandbox_refuses_to_change_the_data(isolated):
    config = user_config(
        isolated, {"en/mutate.j2": "{{ invoices.append(1) }}{{ invoices|length }}\n"}
    )
    context = american()
    with pytest.raises(ConfigError, match=r"mutate\.j2:1: refused by the sandbox"):
        render("mutate", "en", context, config)
    assert len(context.invoices) == 1


UNKNOWN_VARIABLE = """\
subject: Recordatorio de {{ company }}
channel: email

Estimado(a) {{ customer_name }}:

Le recordamos que tiene facturas pendientes.
La primera es la {{ invoice.number }}.
"""


def test_an_unknown_variable_is_reported_with_file_and_line(isolated):
    config = user_config(isolated, {"es/reminder-friendly.j2": UNKNOWN_VARIABLE})
    path = isolated / "mytemplates/es/reminder-friendly.j2"
    (problem,) = messages.check_templates(config)
    assert (problem.path, problem.line) == (str(path), 7)
    assert problem.message.startswith("'invoice' is undefined")
    assert str(problem).startswith(f"{path}:7: 'invoice' is undefined")

    with pytest.raises(ConfigError) as caught:
        render("reminder-friendly", "es", chilean(), config)
    assert str(caught.value).startswith(f"{path}:7: 'invoice' is undefined")
    assert "template 'reminder-friendly'" in str(caught.value)


def test_a_syntax_error_is_reported_with_file_and_line(isolated):
    text = "subject: Hola\n\nLinea uno\n{% if pay_url %}\nPague en {{ pay_url }}\n"
    config = user_config(isolated, {"es/reminder-friendly.j2": text})
    (problem,) = messages.check_templates(config)
    assert problem.path.endswith("mytemplates/es/reminder-friendly.j2")
    assert problem.line == 5
    assert "endif" in problem.message
    with pytest.raises(ConfigError, match=r"reminder-friendly\.j2:\d: .*endif"):
        render("reminder-friendly", "es", chilean(), config)


def test_an_error_in_the_subject_line_names_its_line(isolated):
    text = "channel: email\nsubject: Factura {{ invoices[0].nmber }}\n\nHola\n"
    config = user_config(isolated, {"es/reminder-friendly.j2": text})
    (problem,) = messages.check_templates(config)
    assert problem.line == 2
    assert "nmber" in problem.message


def test_an_unguarded_optional_value_is_found_by_the_check(isolated):
    text = "subject: Hi\n\nHello,\n\nPay at {{ pay_url }}.\n"
    config = user_config(isolated, {"en/reminder-friendly.j2": text})
    (problem,) = messages.check_templates(config)
    assert problem.line == 5
    assert "not set (None)" in problem.message
    # With the value set, the same template renders.
    message = render(
        "reminder-friendly", "en", american(pay_url="https://p.example/1"), config
    )
    assert message.body == "Hello,\n\nPay at https://p.example/1."


def test_an_unknown_front_matter_key_is_reported(isolated):
    text = "subjet: Hi\nchannel: email\n\nHello {{ customer_name }}\n"
    config = user_config(isolated, {"en/reminder-friendly.j2": text})
    (problem,) = messages.check_templates(config)
    assert problem.line == 1
    assert "unknown front matter key 'subjet'" in problem.message


def test_a_body_that_starts_like_text_has_no_front_matter(isolated):
    config = user_config(
        isolated, {"en/plain.j2": "Hello {{ customer_name }}:\nThanks.\n"}
    )
    message = render("plain", "en", american(), config)
    assert message.subject is None
    assert message.body == "Hello Acme Supplies Inc.:\nThanks."


def test_an_edited_template_is_read_again(isolated):
    config = user_config(isolated, {"en/note.j2": "First\n"})
    assert render("note", "en", american(), config).body == "First"
    path = isolated / "mytemplates/en/note.j2"
    path.write_text("Second, longer\n", encoding="utf-8")
    assert render("note", "en", american(), config).body == "Second, longer"


# -- cobra config check --------------------------------------------------------


def test_config_check_reports_template_errors_and_exits_2(isolated, run):
    user_config(
        isolated,
        {
            "es/reminder-friendly.j2": UNKNOWN_VARIABLE,
            "en/final-notice.j2": "subject: Final\n\n{% for i in invoices %}\n",
        },
    )
    result = run("config", "check")
    assert result.exit_code == 2
    assert "2 problems in the configuration" in result.stderr
    assert "mytemplates/es/reminder-friendly.j2:7: 'invoice' is undefined" in (
        result.stderr
    )
    assert "mytemplates/en/final-notice.j2:3: " in result.stderr


def test_config_check_passes_with_the_shipped_templates(isolated, run):
    write(isolated / "cobra.toml", '[company]\nname = "Servicios Australes SpA"\n')
    result = run("config", "check")
    assert result.exit_code == 0, result.stderr
    assert "no problems" in result.stderr


def test_sample_contexts_are_in_the_templates_language():
    spanish = messages.sample_context("es")
    assert spanish.country == "CL"
    assert {i["currency"] for i in spanish.invoices} == {"CLP", "EUR"}
    assert messages.sample_context("en", full=False).pay_url is None
    assert Money(1, "USD").format("en_US") == "$0.01"  # Babel is what formats
