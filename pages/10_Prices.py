"""Prices: the effective catalog with where each price comes from, and override editing for owners."""

from datetime import date

import streamlit as st

from models.fx import CURRENCIES as FX_CURRENCIES
from models.fx import rate_text, set_rate
from models.pricing.catalog import PriceFileError
from models.pricing.edit import (
    EDITABLE_KEYS,
    overrides,
    read_text,
    remove_override,
    save_text,
    search,
    set_override,
)
from models.settings import get_settings
from ui import actions
from ui.format import explained, rate_words, table, today_in
from ui.i18n import t
from ui.page import page_header
from ui.queries import catalog_fingerprint, day_rate, fx_rates, owns_every_org, price_table, refresh
from ui.safe import md

ctx = page_header("prices", flash="pr_flash")

filters = st.columns([2.2, 2, 1.2, 1.2])
query = filters[0].text_input(t("prices.search"), placeholder=t("prices.search_placeholder"), key="pr_query")
at = filters[2].date_input(t("prices.as_of"), value=today_in(ctx.timezone), key="pr_at")
only_overrides = filters[3].toggle(t("prices.only_overrides"), key="pr_only")
catalog = price_table(at, catalog_fingerprint())
providers = filters[1].multiselect(t("prices.providers"), sorted(catalog["provider"].unique()), key="pr_providers")
shown = search(catalog, query, providers, only_overrides)
st.caption(t("prices.count", shown=f"{len(shown):,}", total=f"{len(catalog):,}"))
if shown.empty:
    st.info(t("prices.empty"))
else:
    price_columns = explained(
        {k: st.column_config.NumberColumn(t(f"prices.col.{k}"), format="$%.4f") for k in EDITABLE_KEYS},
        {"cache_read_mtok": "cached_input", "cache_write_mtok": "cache_writes"},
    )
    table(
        shown.assign(**{k: shown[k].map(lambda v: None if v is None else float(v)) for k in EDITABLE_KEYS}),
        hide_index=True,
        width="stretch",
        height=420,
        column_config=price_columns
        | {
            "provider": t("common.provider"),
            "model": t("common.model"),
            "name": t("prices.col.name"),
            "origin": t("prices.col.origin"),
            "notes": t("prices.col.notes"),
        },
    )

path = get_settings().prices_file
st.markdown(f"#### {t('prices.overrides', path=path.name)}")
try:
    entries = overrides()
except PriceFileError as exc:
    entries = None
    st.error(md(str(exc)))
if entries is not None and entries.empty:
    st.info(t("prices.no_overrides"))
elif entries is not None:
    table(
        entries,
        hide_index=True,
        width="stretch",
        column_config={c: t(f"prices.col.{c}") for c in ("line", "since", "prices", "note")}
        | {"provider": t("common.provider"), "model": t("common.model")},
    )

st.markdown(f"#### {t('fx.title')}")
st.caption(t("fx.help"))
dated = fx_rates("CNY")
if not dated:
    st.info(t("fx.none", currency="CNY", rate=rate_words(day_rate("CNY", today_in("UTC")))))
else:
    table(
        [{t("fx.col.since"): str(r.since), t("fx.col.rate"): rate_text(r.rate)} for r in dated],
        hide_index=True,
        width="content",
    )

if not owns_every_org(ctx.actor):
    st.caption(t("prices.readonly"))
    st.stop()


def attempt(action, success: str) -> None:
    actions.attempt(action, success, "pr_flash", refresh)


with st.expander(t("prices.edit"), expanded=False):
    st.caption(t("prices.edit_help"))
    with st.form("pr_edit", clear_on_submit=False):
        a = st.columns([1, 2, 1.2, 1])
        provider = a[0].text_input(t("prices.provider"), value="openai", key="pr_provider")
        model = a[1].text_input(t("prices.model"), key="pr_model")
        use_since = a[3].checkbox(t("prices.use_since"), key="pr_use_since")
        since = a[2].date_input(t("prices.since"), value=date.today(), key="pr_since")
        b = st.columns(4)
        prices = {k: b[i].text_input(t(f"prices.col.{k}"), key=f"pr_{k}") for i, k in enumerate(EDITABLE_KEYS)}
        note = st.text_input(t("prices.note"), key="pr_note")
        if st.form_submit_button(t("prices.save"), type="primary"):
            entity = f"{provider.strip().lower()}/{model.strip()}"
            attempt(
                lambda: set_override(
                    ctx.actor,
                    provider,
                    model,
                    {k: v.strip() for k, v in prices.items()},
                    since if use_since else None,
                    note.strip(),
                ),
                t("prices.saved", entity=md(entity)),
            )

if entries is not None and not entries.empty:
    with st.expander(t("prices.remove")):
        labels = {int(r.line): f"{r.provider}/{r.model} · line {r.line}" for r in entries.itertuples()}
        line = st.selectbox(t("prices.remove_pick"), list(labels), format_func=labels.get, key="pr_remove_line")
        if st.button(t("prices.remove_button"), key="pr_remove"):
            attempt(lambda: remove_override(ctx.actor, line), t("prices.removed", line=line))

with st.expander(t("prices.raw")):
    st.caption(t("prices.raw_help"))
    text = st.text_area("prices.toml", value=read_text(), height=360, key="pr_raw")
    if st.button(t("prices.raw_save"), key="pr_raw_save"):
        attempt(lambda: save_text(ctx.actor, text), t("common.saved"))

with st.expander(t("fx.title"), expanded=False), st.form("pr_fx", clear_on_submit=False):
    f = st.columns([1, 1.2, 1.2])
    fx_currency = f[0].selectbox(t("fx.currency"), list(FX_CURRENCIES), key="pr_fx_currency")
    fx_rate = f[1].text_input(t("fx.rate"), placeholder="7.10", key="pr_fx_rate")
    fx_since = f[2].date_input(t("fx.since_day"), value=today_in("UTC"), key="pr_fx_since")
    if st.form_submit_button(t("fx.save"), type="primary"):
        attempt(
            lambda: set_rate(ctx.actor, fx_currency, fx_rate.strip(), fx_since),
            lambda r: t("fx.saved", label=rate_words(r)),
        )
