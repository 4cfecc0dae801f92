"""The dashboard's languages (German and English): which one a request gets, every visible text in both, and money,
numbers and dates written the way each language writes them.

The language comes from ``?lang=de|en`` (remembered in the cookie ``settle_lang``), else that cookie, else the
browser's ``Accept-Language``, else English. Money is formatted from exact minor units with :class:`~decimal.Decimal`
(never float): ``1.234,56 €`` in German, ``€1,234.56`` in English.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from gateway.api.schemas import Money

LANGUAGES = ("en", "de")
DEFAULT = "en"
COOKIE = "settle_lang"

#: Every visible text of the pages: key → (English, German). Templates call ``t("key")``; a missing key is an error
#: (tests/portal/web/test_web_i18n.py renders every page in both languages and checks the catalogue is complete).
MESSAGES: dict[str, tuple[str, str]] = {
    "app.name": ("Settle", "Settle"),
    "app.tagline": ("Billing agreements, usage, invoices and payments", "Abrechnungsvereinbarungen, Verbrauch, Rechnungen und Zahlungen"),
    "nav.agreements": ("Agreements", "Verträge"),
    "nav.receivables": ("Receivables", "Offene Posten"),
    "nav.settings": ("Settings", "Einstellungen"),
    "nav.sign_out": ("Sign out", "Abmelden"),
    "nav.language": ("Language", "Sprache"),
    "nav.signed_in_as": ("Signed in as", "Angemeldet als"),
    "nav.sign_out_failed": ("Signing out did not work:", "Abmelden hat nicht funktioniert:"),
    "signin.title": ("Sign in", "Anmelden"),
    "signin.wallet": ("Sign in with your wallet", "Mit Wallet anmelden"),
    "signin.wallet_help": (
        "Parties sign in with the key that accepted their agreements (Sign-In with Ethereum).",
        "Vertragsparteien melden sich mit dem Schlüssel an, der ihre Verträge angenommen hat (Sign-In with Ethereum).",
    ),
    "signin.no_wallet": ("No wallet found in this browser.", "In diesem Browser wurde keine Wallet gefunden."),
    "signin.staff": ("Staff sign-in", "Anmeldung für Mitarbeitende"),
    "signin.email": ("E-mail", "E-Mail"),
    "signin.password": ("Password", "Passwort"),
    "signin.totp": ("One-time code (if set up)", "Einmalcode (falls eingerichtet)"),
    "signin.submit": ("Sign in", "Anmelden"),
    "signin.failed": ("Sign-in failed", "Anmeldung fehlgeschlagen"),
    "signin.working": ("Signing in …", "Anmeldung läuft …"),
    "signin.refused": (
        "wrong e-mail, password or one-time code. After 5 failed attempts in a row the account is locked for 15 minutes.",
        "E-Mail, Passwort oder Einmalcode falsch. Nach 5 Fehlversuchen in Folge wird das Konto für 15 Minuten gesperrt.",
    ),
    "signin.totp_needed": (
        "this account needs the one-time code from your authenticator app: enter it and sign in again.",
        "für dieses Konto ist der Einmalcode aus Ihrer Authenticator-App nötig: tragen Sie ihn ein und melden Sie sich erneut an.",
    ),
    "signin.too_many": (
        "too many sign-in attempts. Try again in {seconds} seconds.",
        "zu viele Anmeldeversuche. Versuchen Sie es in {seconds} Sekunden erneut.",
    ),
    "signin.welcome.invited": (
        "Your password is set. Sign in with your e-mail and the new password.",
        "Ihr Passwort ist gesetzt. Melden Sie sich mit Ihrer E-Mail-Adresse und dem neuen Passwort an.",
    ),
    "signin.welcome.signed-out": ("You are signed out.", "Sie sind abgemeldet."),
    "invite.title": ("Accept your invitation", "Einladung annehmen"),
    "invite.intro": (
        "Choose the password you will sign in with. The link works once.",
        "Wählen Sie das Passwort, mit dem Sie sich künftig anmelden. Der Link funktioniert nur einmal.",
    ),
    "invite.password": ("New password", "Neues Passwort"),
    "invite.repeat": ("Repeat the password", "Passwort wiederholen"),
    "invite.rules": ("The password needs:", "Das Passwort braucht:"),
    "invite.rule_length": ("at least {n} characters", "mindestens {n} Zeichen"),
    "invite.rule_email": ("not the name of your e-mail address in it", "nicht den Namen Ihrer E-Mail-Adresse darin"),
    "invite.rule_variety": ("at least 5 different characters", "mindestens 5 verschiedene Zeichen"),
    "invite.submit": ("Set password", "Passwort festlegen"),
    "invite.working": ("Setting the password …", "Passwort wird gesetzt …"),
    "invite.failed": ("The password was not set:", "Das Passwort wurde nicht gesetzt:"),
    "invite.mismatch": ("the two passwords differ.", "die beiden Passwörter stimmen nicht überein."),
    "invite.weak": ("the password is too weak: it needs", "das Passwort ist zu schwach: es braucht"),
    "invite.too_many": (
        "too many attempts. Try again in {seconds} seconds.",
        "zu viele Versuche. Versuchen Sie es in {seconds} Sekunden erneut.",
    ),
    "invite.valid_until": ("This link is valid until {when} (UTC).", "Dieser Link ist gültig bis {when} (UTC)."),
    "invite.open": ("This invitation link is valid.", "Dieser Einladungslink ist gültig."),
    "invite.used": (
        "This invitation link was used already. Sign in with your password.",
        "Dieser Einladungslink wurde bereits verwendet. Melden Sie sich mit Ihrem Passwort an.",
    ),
    "invite.expired": (
        "This invitation link has expired. Ask the party that invited you for a new invitation.",
        "Dieser Einladungslink ist abgelaufen. Bitten Sie die einladende Partei um eine neue Einladung.",
    ),
    "invite.unknown": (
        "This invitation link is not valid. Check that the whole link was copied, or ask for a new invitation.",
        "Dieser Einladungslink ist ungültig. Prüfen Sie, ob der ganze Link kopiert wurde, oder bitten Sie um eine neue Einladung.",
    ),
    "invite.closed": (
        "The account of this invitation is disabled. Ask the party that invited you.",
        "Das Konto dieser Einladung ist deaktiviert. Wenden Sie sich an die einladende Partei.",
    ),
    "invite.signed_in": (
        "This browser is signed in to another account: after setting the password, sign out to sign in with the new one.",
        "Dieser Browser ist mit einem anderen Konto angemeldet: Melden Sie sich nach dem Festlegen des Passworts ab, "
        "um sich mit dem neuen anzumelden.",
    ),
    "invite.to_sign_in": ("To the sign-in page", "Zur Anmeldung"),
    "agreements.title": ("Agreements", "Verträge"),
    "agreements.none": ("No agreements yet.", "Noch keine Verträge."),
    "agreements.address": ("Agreement", "Vertrag"),
    "agreements.counterparty": ("Counterparty", "Vertragspartner"),
    "agreements.role": ("Your role", "Ihre Rolle"),
    "agreements.state": ("State", "Status"),
    "agreements.service": ("Service", "Leistung"),
    "agreements.outstanding": ("Outstanding", "Offen"),
    "agreements.next_settlement": ("Next settlement", "Nächste Abrechnung"),
    "agreements.method": ("Paid by", "Zahlweg"),
    "role.payer": ("payer", "Zahler"),
    "role.payee": ("payee", "Zahlungsempfänger"),
    "role.observer": ("observer", "Beobachter"),
    "state.proposed": ("proposed", "vorgeschlagen"),
    "state.active": ("active", "aktiv"),
    "state.paused": ("paused", "pausiert"),
    "state.terminated": ("terminated", "beendet"),
    "service.active": ("active", "aktiv"),
    "service.restricted": ("restricted", "eingeschränkt"),
    "service.suspended": ("suspended", "gesperrt"),
    "method.sepa_dd": ("SEPA direct debit", "SEPA-Lastschrift"),
    "method.sepa_ct": ("SEPA credit transfer", "SEPA-Überweisung"),
    "method.transfer": ("bank transfer on invoice", "Überweisung auf Rechnung"),
    "method.erc20": ("ERC-20 token", "ERC-20-Token"),
    "method.none": ("—", "—"),
    "settlement.due": ("due", "fällig"),
    "settlement.partially_paid": ("partly paid", "teilweise bezahlt"),
    "settlement.paid": ("paid", "bezahlt"),
    "settlement.returned": ("returned", "zurückgegeben"),
    "settlement.disputed": ("disputed", "bestritten"),
    "settlement.written_off": ("written off", "ausgebucht"),
    "payment.pending": ("pending", "vorgemerkt"),
    "payment.in_file": ("in payment file", "in Zahlungsdatei"),
    "payment.sent": ("sent to the bank", "an die Bank übergeben"),
    "payment.partially_paid": ("partly paid", "teilweise bezahlt"),
    "payment.paid": ("paid", "bezahlt"),
    "payment.returned": ("returned", "zurückgegeben"),
    "payment.rejected": ("rejected", "abgelehnt"),
    "payment.cancelled": ("cancelled", "storniert"),
    "item.open": ("open", "offen"),
    "item.overdue": ("overdue", "überfällig"),
    "item.disputed": ("disputed", "bestritten"),
    "item.in_review": ("payment in review", "Zahlung in Prüfung"),
    "item.credit": ("credit", "Guthaben"),
    "item.settlement": ("settlement", "Abrechnung"),
    "item.fee": ("fee", "Gebühr"),
    "terms.accepted": ("accepted", "angenommen"),
    "terms.pending": ("pending", "ausstehend"),
    "terms.rejected": ("rejected", "abgelehnt"),
    "terms.replaced": ("replaced", "ersetzt"),
    "field.currency": ("Currency", "Währung"),
    "field.token": ("Token", "Token"),
    "field.minor_digits": ("Minor digits", "Nachkommastellen"),
    "field.price_decimals": ("Price decimals", "Preis-Nachkommastellen"),
    "field.interval": ("Billing interval", "Abrechnungsintervall"),
    "field.start": ("Start", "Beginn"),
    "field.end": ("End", "Ende"),
    "field.notice_period": ("Notice period", "Kündigungsfrist"),
    "field.payment_terms_days": ("Payment terms (days)", "Zahlungsziel (Tage)"),
    "field.grace": ("Grace period", "Karenzzeit"),
    "field.dispute_window": ("Dispute window", "Einspruchsfrist"),
    "field.minimum_commitment": ("Minimum commitment", "Mindestumsatz"),
    "field.cap": ("Cap", "Obergrenze"),
    "field.tax": ("Tax", "Steuer"),
    "field.arbiter": ("Arbiter", "Schiedsstelle"),
    "field.meters": ("Meters", "Zähler"),
    "field.model": ("Price model", "Preismodell"),
    "field.included": ("Included", "Inklusive"),
    "field.price": ("Price", "Preis"),
    "field.package_size": ("Package size", "Paketgröße"),
    "field.tiers": ("Tiers", "Staffeln"),
    "field.name": ("Name", "Name"),
    "field.unit": ("Unit", "Einheit"),
    "staff.invited": ("invited", "eingeladen"),
    "staff.active": ("active", "aktiv"),
    "staff.disabled": ("disabled", "deaktiviert"),
    "delivery.pending": ("pending", "ausstehend"),
    "delivery.delivered": ("delivered", "zugestellt"),
    "delivery.failed": ("failed", "fehlgeschlagen"),
    "endpoint.active": ("active", "aktiv"),
    "endpoint.disabled": ("disabled", "deaktiviert"),
    "period": ("Period", "Periode"),
    "period.n": ("period {n}", "Periode {n}"),
    "period.from_to": ("{start} – {end}", "{start} – {end}"),
    "detail.parties": ("Parties", "Parteien"),
    "detail.payer": ("Payer", "Zahler"),
    "detail.payee": ("Payee", "Zahlungsempfänger"),
    "detail.created": ("Created in transaction", "Angelegt in Transaktion"),
    "detail.terms": ("Terms", "Konditionen"),
    "detail.version": ("Version", "Version"),
    "detail.status": ("Status", "Status"),
    "detail.accepted": ("Accepted", "Angenommen"),
    "detail.in_block": ("in block {block}", "in Block {block}"),
    "detail.awaiting": ("Waiting for", "Wartet auf"),
    "detail.effective_from": ("From period", "Ab Periode"),
    "detail.terms_hash": ("Terms hash", "Hash der Konditionen"),
    "detail.meters": ("Meters", "Zähler"),
    "detail.usage": ("Usage", "Verbrauch"),
    "detail.usage_chart": (
        "Usage per meter and period (cumulative in the period)",
        "Verbrauch je Zähler und Periode (kumuliert in der Periode)",
    ),
    "detail.usage_live": ("Running period (updates itself)", "Laufende Periode (aktualisiert sich selbst)"),
    "detail.no_usage": ("No usage reported yet.", "Noch kein Verbrauch gemeldet."),
    "detail.meter": ("Meter", "Zähler"),
    "detail.quantity": ("Quantity", "Menge"),
    "detail.records_root": ("Merkle root of the records", "Merkle-Wurzel der Datensätze"),
    "detail.settlements": ("Settlements", "Abrechnungen"),
    "detail.no_settlements": ("No settlements yet.", "Noch keine Abrechnungen."),
    "detail.net": ("Net", "Netto"),
    "detail.vat": ("VAT", "USt."),
    "detail.amount": ("Amount", "Betrag"),
    "detail.paid": ("Paid", "Bezahlt"),
    "detail.open": ("Open", "Offen"),
    "detail.due": ("Due", "Fällig"),
    "detail.tx": ("Transaction", "Transaktion"),
    "detail.invoices": ("Invoices", "Rechnungen"),
    "detail.no_invoices": ("No invoices yet.", "Noch keine Rechnungen."),
    "detail.invoice_number": ("Number", "Nummer"),
    "detail.issue_date": ("Issued", "Ausgestellt"),
    "detail.gross": ("Gross", "Brutto"),
    "detail.download": ("Download", "Herunterladen"),
    "detail.payments": ("Payments", "Zahlungen"),
    "detail.no_payments": ("No payments yet.", "Noch keine Zahlungen."),
    "detail.end_to_end": ("End-to-end id", "End-to-End-ID"),
    "detail.payment_state": ("State", "Status"),
    "detail.bank_lines": ("Paid by bank lines", "Bezahlt durch Kontoumsätze"),
    "detail.booked_on": ("booked {day}", "gebucht am {day}"),
    "detail.proofs": ("Merkle proof of a record", "Merkle-Beweis eines Datensatzes"),
    "detail.proofs_help": (
        "The records themselves stay with the usage oracle; the chain holds only each period's Merkle root (above). "
        "The oracle's API gives the inclusion proof of one record, checked against the chain.",
        "Die Datensätze selbst liegen beim Usage-Oracle; auf der Chain steht nur die Merkle-Wurzel jeder Periode (oben). "
        "Die API des Oracles liefert den Inklusionsbeweis eines Datensatzes, gegen die Chain geprüft.",
    ),
    "detail.proof_source": ("Source", "Quelle"),
    "detail.proof_record": ("Record id", "Datensatz-ID"),
    "detail.proof_get": ("Download proof", "Beweis herunterladen"),
    "detail.proof_unavailable": (
        "This gateway has no oracle address configured (setting oracle_url), so proofs cannot be linked here.",
        "Für dieses Gateway ist keine Oracle-Adresse eingerichtet (Einstellung oracle_url); Beweise können hier nicht verlinkt werden.",
    ),
    "receivables.title": ("Receivables", "Offene Posten"),
    "receivables.as_of": ("as of {day}", "Stand {day}"),
    "receivables.open_items": ("Open items", "Offene Posten"),
    "receivables.none": ("No open items.", "Keine offenen Posten."),
    "receivables.item": ("Item", "Posten"),
    "receivables.days_overdue": ("Days overdue", "Tage überfällig"),
    "receivables.dunning": ("Dunning", "Mahnstufe"),
    "receivables.dunning_level": ("level {n}", "Stufe {n}"),
    "receivables.dunning_none": ("—", "—"),
    "receivables.hold_until": ("on hold until {day}", "angehalten bis {day}"),
    "receivables.aging": ("Aging", "Altersstruktur"),
    "receivables.bucket": ("Bucket", "Zeitraum"),
    "receivables.count": ("Items", "Posten"),
    "receivables.total": ("Total open", "Offen gesamt"),
    "receivables.overdue": ("Overdue", "Überfällig"),
    "receivables.disputed": ("Disputed", "Bestritten"),
    "receivables.fees": ("Dunning fees", "Mahngebühren"),
    "receivables.dso": ("DSO trend (count-back, 3 months)", "DSO-Verlauf (Count-back, 3 Monate)"),
    "receivables.dso_days": ("DSO (days)", "DSO (Tage)"),
    "receivables.month_end": ("Month end", "Monatsende"),
    "receivables.collection_rate": ("Collection rate", "Einzugsquote"),
    "receivables.avg_days_to_pay": ("Average days to pay", "Durchschnittliche Zahlungsdauer (Tage)"),
    "receivables.credits": ("Credit balances", "Guthaben"),
    "receivables.no_credits": ("No credit balances.", "Keine Guthaben."),
    "receivables.balance": ("Balance", "Guthaben"),
    "receivables.role": ("Side", "Seite"),
    "receivables.currency": ("Currency", "Währung"),
    "bucket.not_due": ("not due", "nicht fällig"),
    "bucket.1-30": ("1–30 days", "1–30 Tage"),
    "bucket.31-60": ("31–60 days", "31–60 Tage"),
    "bucket.61-90": ("61–90 days", "61–90 Tage"),
    "bucket.over_90": ("over 90 days", "über 90 Tage"),
    "settings.title": ("Settings", "Einstellungen"),
    "settings.staff": ("Staff", "Mitarbeitende"),
    "settings.no_staff": ("No staff accounts yet.", "Noch keine Mitarbeiterkonten."),
    "settings.email": ("E-mail", "E-Mail"),
    "settings.role": ("Role", "Rolle"),
    "settings.state": ("State", "Status"),
    "settings.last_sign_in": ("Last sign-in", "Letzte Anmeldung"),
    "settings.invite": ("Invite", "Einladen"),
    "settings.invite_sent": ("Invitation sent.", "Einladung verschickt."),
    "settings.role.viewer": ("viewer (reads)", "Betrachter (nur lesen)"),
    "settings.role.finance": ("finance (reads and changes)", "Finanzen (lesen und ändern)"),
    "settings.tokens": ("API tokens", "API-Tokens"),
    "settings.no_tokens": ("No API tokens yet.", "Noch keine API-Tokens."),
    "settings.prefix": ("Token", "Token"),
    "settings.label": ("Label", "Bezeichnung"),
    "settings.scopes": ("Scopes", "Berechtigungen"),
    "settings.expires": ("Expires", "Läuft ab"),
    "settings.never": ("never", "nie"),
    "settings.revoked": ("revoked", "widerrufen"),
    "settings.live": ("valid", "gültig"),
    "settings.expired": ("expired", "abgelaufen"),
    "settings.issue": ("Issue token", "Token ausstellen"),
    "settings.issued": (
        "Your new token (shown this once, copy it now):",
        "Ihr neues Token (wird nur dieses eine Mal angezeigt, jetzt kopieren):",
    ),
    "settings.revoke": ("Revoke", "Widerrufen"),
    "settings.days": ("Valid for days (empty: no expiry)", "Gültig für Tage (leer: unbegrenzt)"),
    "settings.webhooks": ("Webhook subscriptions", "Webhook-Abonnements"),
    "settings.no_webhooks": ("No webhook subscriptions yet.", "Noch keine Webhook-Abonnements."),
    "settings.url": ("URL", "URL"),
    "settings.events": ("Events", "Ereignisse"),
    "settings.failures": ("Failures in a row", "Fehlschläge in Folge"),
    "settings.subscribe": ("Subscribe", "Abonnieren"),
    "settings.secret": ("Signing secret (shown this once):", "Signaturgeheimnis (wird nur einmal angezeigt):"),
    "settings.deliveries": ("Delivery log", "Zustellprotokoll"),
    "settings.no_deliveries": ("No deliveries yet.", "Noch keine Zustellungen."),
    "settings.event": ("Event", "Ereignis"),
    "settings.attempts": ("Attempts", "Versuche"),
    "settings.last_status": ("Last answer", "Letzte Antwort"),
    "settings.latency": ("{ms} ms", "{ms} ms"),
    "settings.replay": ("Replay", "Erneut senden"),
    "settings.replayed": ("Queued again.", "Erneut eingereiht."),
    "settings.disabled_reason": ("Disabled: {why}", "Deaktiviert: {why}"),
    "settings.operator_only": (
        "Staff, tokens and webhooks belong to a party: sign in as the party to manage them.",
        "Mitarbeitende, Tokens und Webhooks gehören zu einer Partei: melden Sie sich als Partei an, um sie zu verwalten.",
    ),
    "settings.admin_only": (
        "Staff and API tokens are shown to and managed by the party itself (signed in with its key) only.",
        "Mitarbeitende und API-Tokens sieht und verwaltet nur die Partei selbst (mit ihrem Schlüssel angemeldet).",
    ),
    "settings.failed": ("That did not work:", "Das hat nicht funktioniert:"),
    "security.title": ("Security", "Sicherheit"),
    "security.account": ("You sign in as {email} with your password.", "Sie melden sich als {email} mit Ihrem Passwort an."),
    "security.totp_on": (
        "Two-factor sign-in is on: signing in needs the one-time code from your authenticator app.",
        "Zwei-Faktor-Anmeldung ist eingeschaltet: zur Anmeldung ist der Einmalcode aus Ihrer Authenticator-App nötig.",
    ),
    "security.totp_off": (
        "Two-factor sign-in is off. Set up an authenticator app (TOTP) so a password alone is not enough.",
        "Zwei-Faktor-Anmeldung ist ausgeschaltet. Richten Sie eine Authenticator-App (TOTP) ein, damit ein Passwort allein nicht genügt.",
    ),
    "security.enrol": ("Set up an authenticator app", "Authenticator-App einrichten"),
    "security.enrol_help": (
        "Add this key to your authenticator app (or open the otpauth address on your phone), then enter the code it shows. "
        "The key is shown this once.",
        "Tragen Sie diesen Schlüssel in Ihre Authenticator-App ein (oder öffnen Sie die otpauth-Adresse auf dem Telefon) "
        "und geben Sie dann den angezeigten Code ein. Der Schlüssel wird nur dieses eine Mal angezeigt.",
    ),
    "security.secret": ("Key", "Schlüssel"),
    "security.uri": ("otpauth address", "otpauth-Adresse"),
    "security.code": ("Code from the app", "Code aus der App"),
    "security.confirm": ("Turn on", "Einschalten"),
    "security.confirmed": (
        "Two-factor sign-in is on. From now on, signing in needs the code.",
        "Zwei-Faktor-Anmeldung ist eingeschaltet. Ab jetzt ist zur Anmeldung der Code nötig.",
    ),
    "security.working": ("One moment …", "Einen Moment …"),
    "error.not_found": ("Not found", "Nicht gefunden"),
    "error.not_found_text": (
        "There is no such page, or it is not one you may see.",
        "Diese Seite gibt es nicht, oder Sie dürfen sie nicht sehen.",
    ),
    "error.back": ("Back to your agreements", "Zurück zu Ihren Verträgen"),
    "charts.missing": (
        "Charts are not available (the dashboard's assets were not built: run make build).",
        "Diagramme sind nicht verfügbar (die Assets wurden nicht gebaut: make build ausführen).",
    ),
    "yes": ("yes", "ja"),
    "no": ("no", "nein"),
}

_CURRENCY_SIGNS = {"EUR": "€", "USD": "$", "GBP": "£", "CHF": "CHF"}


def choose(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The request's language: ``?lang=`` first, then the cookie, then the best of Accept-Language, else English."""
    for given in (query, cookie):
        if given and given.lower() in LANGUAGES:
            return given.lower()
    best, best_q = None, -1.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        lang = tag.strip().lower().split("-")[0]
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if lang in LANGUAGES and q > best_q:
            best, best_q = lang, q
    return best or DEFAULT


def label(lang: str, key: str) -> str:
    """A field name of the terms document in ``lang``; a field the catalogue does not know yet shows as named."""
    return text(lang, f"field.{key}") if f"field.{key}" in MESSAGES else key


def text(lang: str, key: str, **values: object) -> str:
    """The text ``key`` in ``lang``, with ``{name}`` placeholders filled in. An unknown key raises KeyError: every
    visible string must be in the catalogue in both languages."""
    en, de = MESSAGES[key]
    template = de if lang == "de" else en
    return template.format(**values) if values else template


def _grouped(digits: str, sep: str) -> str:
    out: list[str] = []
    while len(digits) > 3:
        out.insert(0, digits[-3:])
        digits = digits[:-3]
    out.insert(0, digits)
    return sep.join(out)


def number(value: Decimal | int, lang: str, places: int | None = None) -> str:
    """``value`` with the language's grouping and decimal mark (``places`` fixed decimals, else as given)."""
    amount = Decimal(value)
    if places is not None:
        amount = amount.quantize(Decimal(1).scaleb(-places))
    sign = "-" if amount < 0 else ""
    whole, _, fraction = format(abs(amount), "f").partition(".")
    group, mark = (".", ",") if lang == "de" else (",", ".")
    return sign + _grouped(whole, group) + (mark + fraction if fraction else "")


def money_minor(minor: int, digits: int, currency: str, lang: str) -> str:
    """Exact minor units as money: ``1.234,56 €`` (de), ``€1,234.56`` (en); other currencies by code."""
    amount = Decimal(minor).scaleb(-digits)
    shown = number(abs(amount), lang, digits)
    sign = "-" if minor < 0 else ""
    symbol = _CURRENCY_SIGNS.get(currency, currency)
    if lang == "de":
        return f"{sign}{shown}\u00a0{symbol}"
    return f"{sign}{symbol}{shown}" if len(symbol) == 1 else f"{sign}{symbol}\u00a0{shown}"


def money(value: Money, lang: str) -> str:
    """An API ``Money`` as text: its exact minor units, with as many decimals as its decimal string has."""
    digits = len(value.value.partition(".")[2])
    return money_minor(value.minor_units, digits, value.currency, lang)


def day(value: date | datetime | None, lang: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        value = value.date()
    return value.strftime("%d.%m.%Y") if lang == "de" else value.isoformat()


def moment(value: datetime | None, lang: str) -> str:
    if value is None:
        return "—"
    return value.strftime("%d.%m.%Y %H:%M") if lang == "de" else value.strftime("%Y-%m-%d %H:%M")
