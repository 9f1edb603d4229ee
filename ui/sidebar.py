"""The shared sidebar: who is signed in, organization picker, language and display currency.

Every page calls `render()` first; it returns the PageContext the page needs (who, which org, what
role, how to show money). Language and currency are kept in session state under plain keys so
they survive page switches (Streamlit forgets widget keys of widgets a page did not draw).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal

import streamlit as st

from models.access.preferences import saved_preferences, set_preferences
from models.access.roles import Actor
from models.fx import Rate
from models.units import add_months
from ui import auth
from ui.format import CURRENCIES, rate_words, symbol
from ui.format import money as format_money
from ui.i18n import LANGUAGES, t
from ui.queries import day_rate, org_choices, roles_for

LANG_KEY = "lang"
CURRENCY_KEY = "currency"

# The menu, in order: (script, title key, icon). Streamlit's own menu names the home page after its
# file ("app") and cannot follow the language picker, so it is turned off in .streamlit/config.toml
# (client.showSidebarNavigation) and the sidebar draws this one; Material icons ship with Streamlit,
# where emoji depend on the viewer's fonts. tests/test_pages_demo.py checks it lists every page.
MENU = (
    ("app.py", "nav.home", ":material/home:"),
    ("pages/1_Spend_explorer.py", "explore.title", ":material/query_stats:"),
    ("pages/2_Forecast.py", "forecast.title", ":material/trending_up:"),
    ("pages/3_Budgets_and_alerts.py", "budgets.title", ":material/savings:"),
    ("pages/4_Alert_history.py", "alerthist.title", ":material/notifications:"),
    ("pages/5_Model_comparison.py", "compare.title", ":material/compare_arrows:"),
    ("pages/6_Statement.py", "statement.title", ":material/receipt_long:"),
    ("pages/7_Reconciliation.py", "recon.title", ":material/balance:"),
    ("pages/8_Sources.py", "sources.title", ":material/cable:"),
    ("pages/9_Organizations.py", "orgs.title", ":material/domain:"),
    ("pages/10_Prices.py", "prices.title", ":material/sell:"),
    ("pages/11_Audit_log.py", "audit.title", ":material/history:"),
    ("pages/12_Gateway.py", "gateway.title", ":material/router:"),
)


@dataclass(frozen=True)
class PageContext:
    actor: Actor | None
    org_id: str | None
    org_name: str
    environment: str
    timezone: str
    role: str | None  # "owner", "reader" or None for the selected org
    orgs: tuple[dict, ...]  # the orgs this actor may see
    currency: str = "USD"  # display currency; stored amounts stay USD
    rate: Decimal = Decimal(1)  # display units per USD
    lang: str = "en"
    fx: Rate | None = None  # the dated rate `rate` comes from (today's unless `at` chose a day)

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"

    @property
    def symbol(self) -> str:
        return symbol(self.currency)

    @property
    def is_staging(self) -> bool:
        return self.environment == "staging"

    def member(self) -> tuple[Actor, str]:
        """The signed-in member and the selected org, for the parts of a page drawn only with both
        (page_header(needs_org=True) and the sign-in gate stop the page before them otherwise)."""
        assert self.actor is not None and self.org_id is not None
        return self.actor, self.org_id

    def at(self, day: date) -> PageContext:
        """This context with money at the rate in force on `day`: a page showing a period uses its
        last day's rate (today's for a period still running), as a month's statement does."""
        rate = day_rate(self.currency, day)
        return replace(self, rate=rate.rate, fx=rate)

    def month_rate(self, label: str, today: date) -> Decimal:
        """Display units per USD for the month "YYYY-MM": its last day's rate (today's while it runs)."""
        first = date(int(label[:4]), int(label[5:7]), 1)
        last = date.fromordinal(add_months(first, 1).toordinal() - 1)
        return day_rate(self.currency, min(last, today)).rate

    def rate_note(self) -> None:
        """Say under the page's title which rate its figures use (nothing in USD)."""
        if self.currency != "USD" and self.fx is not None:
            st.caption(t("closing.rate", currency=self.currency, rate=rate_words(self.fx)))

    def money(self, amount_usd) -> str:
        """An amount in the display currency, e.g. $1,234.56 or ¥8,765.43."""
        return format_money(amount_usd, self.currency, self.rate)

    def convert(self, amount_usd) -> float:
        """An amount in display units as a float, for charts and table columns (not for sums)."""
        return float(Decimal(str(amount_usd)) * self.rate)

    def org(self, org_id: str) -> dict:
        return next(
            (o for o in self.orgs if o["id"] == org_id),
            {"id": org_id, "name": org_id, "environment": "", "timezone": "UTC"},
        )

    def org_label(self, org_id: str) -> str:
        org = self.org(org_id)
        return f"{org['name']} · {t('env.' + org['environment'])}" if org.get("environment") else org["name"]


def _browser_lang() -> str:
    """Before anyone signs in: ?lang=, else the browser's language."""
    wanted = st.query_params.get("lang")
    if wanted in LANGUAGES:
        return wanted
    try:
        locale = (st.context.locale or "").lower()
    except Exception:  # not in a browser session
        locale = ""
    return "zh" if locale.startswith("zh") else "en"


def _preferences(actor: Actor | None) -> tuple[str, str]:
    """Language and display currency pickers (first in the sidebar, so every label below follows).

    A new browser session (a reload, a second tab) starts from the member's saved choice; a change
    of either picker is saved for them (and for their alert emails)."""
    saved = saved_preferences(actor.email) if actor is not None and actor.email and not actor.system else None
    if LANG_KEY not in st.session_state:
        # A link's ?lang= first (it was chosen for this visit), then the saved choice, then the browser's.
        asked = st.query_params.get("lang")
        st.session_state[LANG_KEY] = (
            asked if asked in LANGUAGES else saved.lang if saved is not None else _browser_lang()
        )
    if st.session_state.get(CURRENCY_KEY) not in CURRENCIES:
        st.session_state[CURRENCY_KEY] = saved.currency if saved is not None else "USD"
    before = (st.session_state[LANG_KEY], st.session_state[CURRENCY_KEY])
    langs = list(LANGUAGES)
    with st.sidebar:
        left, right = st.columns(2)
        lang = left.selectbox(
            "Language · 语言",
            langs,
            index=langs.index(st.session_state[LANG_KEY]),
            key="lang_picker",
            format_func=LANGUAGES.__getitem__,
        )
        st.session_state[LANG_KEY] = lang
        currency = right.selectbox(
            t("sidebar.currency"),
            list(CURRENCIES),
            index=list(CURRENCIES).index(st.session_state[CURRENCY_KEY]),
            key="currency_picker",
            format_func=lambda c: f"{symbol(c)} {c}",
        )
        st.session_state[CURRENCY_KEY] = currency
    if actor is not None and actor.email and not actor.system and (lang, currency) != before:
        set_preferences(actor, actor.email, lang=lang, currency=currency)
    return lang, currency


def _menu(container) -> None:
    """Links to every page, in the chosen language."""
    for script, title, icon in MENU:
        container.page_link(script, label=t(title), icon=icon)


def render() -> PageContext:
    menu = st.sidebar.container()  # first in the sidebar, filled once the language is known
    signed_in = auth.current_actor()  # who, before drawing: their saved language titles the page
    lang, currency = _preferences(signed_in)
    _menu(menu)
    today_rate = day_rate(currency, datetime.now(UTC).date())  # dated rates: today's, stated below
    rate = today_rate.rate
    actor = auth.require_actor(signed_in)  # the sign-in gate: stops the page until someone is signed in
    roles = roles_for(actor.email, actor.system)
    orgs = tuple(o for o in org_choices() if o["id"] in roles)
    if currency != "USD":
        st.sidebar.caption(t("fx.sidebar", currency=currency, rate=rate_words(today_rate)))
    if not orgs:
        return PageContext(actor, None, "", "", "UTC", None, (), currency, rate, lang, today_rate)
    ids = [o["id"] for o in orgs]
    by_id = {o["id"]: o for o in orgs}
    current = st.session_state.get("org_id")
    index = ids.index(current) if current in ids else 0
    with st.sidebar:
        org_id = st.selectbox(
            t("sidebar.organization"),
            ids,
            index=index,
            key="org_picker",
            format_func=lambda i: f"{by_id[i]['name']} · {t('env.' + by_id[i]['environment'])}",
        )
        if by_id[org_id]["environment"] == "staging":
            st.warning(t("sidebar.staging"), icon="🧪")
        st.caption(t("sidebar.role", role=t("role." + (roles.get(org_id) or "none"))))
    st.session_state["org_id"] = org_id
    org = by_id[org_id]
    return PageContext(
        actor,
        org_id,
        org["name"],
        org["environment"],
        org["timezone"],
        roles.get(org_id),
        orgs,
        currency,
        rate,
        lang,
        today_rate,
    )
