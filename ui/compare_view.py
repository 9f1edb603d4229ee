"""The Model comparison page's four tabs: reprice real usage, what-if traffic, token estimate and
cost against quality. The page draws the tabs and the candidate picker; each function here draws one
tab's widgets, reads its cached query (ui.queries) and hands the frame to a chart factory.

Repriced usage is money of its period, shown at the rate of the period's last day (as the explorer);
what-if, token and quality figures are at today's prices and today's rate.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import streamlit as st

from models.spend.compare import CompareError, Profile
from models.spend.explore import PRESETS, period, to_csv
from ui import charts
from ui.format import explained, floats, in_currency, money_column, number, percent, table, tokens
from ui.i18n import t
from ui.queries import (
    candidate_kinds,
    dimension_choices,
    frontier_data,
    reprice_data,
    reprice_models_data,
    token_counts,
    what_if_data,
)
from ui.safe import md
from ui.sidebar import PageContext

Candidates = tuple[tuple[str, str], ...]


MONEY = ("cost_usd", "per_1k_usd", "saving_usd", "expected_usd", "worst_usd", "best_usd")


def labels(cur: str) -> dict[str, str]:
    return {
        "model": t("common.model"),
        "provider": t("common.provider"),
        "current": t("compare.col.current"),
        "cost_usd": t("compare.col.cost", currency=cur),
        "per_1k_usd": t("compare.col.per_1k", currency=cur),
        "saving_usd": t("compare.col.saving", currency=cur),
        "saving_pct": t("compare.col.saving_pct"),
        "notes": t("compare.col.notes"),
        "expected_usd": t("compare.col.expected", currency=cur),
        "worst_usd": t("compare.col.worst", currency=cur),
        "tokens": t("compare.col.tokens"),
        "exact": t("compare.col.exact"),
        "method": t("compare.col.method"),
        "score": t("compare.col.score"),
        "cost_per_1k": t("compare.col.per_1k", currency=cur),
        "dominated": t("compare.col.dominated"),
        "kind": t("compare.col.kind"),
        "best_model": t("compare.col.best_model"),
        "best_usd": t("compare.col.best", currency=cur),
    }


def config(cur: str) -> dict:
    labels_ = labels(cur)
    return (
        {c: money_column(labels_[c], cur) for c in (*MONEY, "cost_per_1k")}
        | {"saving_pct": st.column_config.NumberColumn(labels_["saving_pct"], format="percent")}
        | {
            c: st.column_config.Column(labels_[c])
            for c in (
                "model",
                "provider",
                "current",
                "notes",
                "tokens",
                "exact",
                "method",
                "score",
                "dominated",
                "kind",
                "best_model",
            )
        }
    )


def shown(frame, ctx: PageContext, money=MONEY):
    """A frame in the display currency, ready for st.dataframe and the charts."""
    return floats(in_currency(frame, money, ctx.rate))


def table_with_download(frame, name: str, key: str, cur: str) -> None:
    table(frame, hide_index=True, width="stretch", column_config=config(cur))
    st.download_button(
        t("common.download_csv"),
        to_csv(frame.rename(columns=labels(cur)), [labels(cur)["saving_pct"]]),  # a saving reads 12.5%
        f"{name}.csv",
        "text/csv",
        key=key,
        on_click="ignore",
    )


def reprice(ctx: PageContext, candidates: Candidates, today: date) -> None:
    """The period's real usage on today's prices and on each candidate, model by model."""
    cur = ctx.currency
    st.caption(t("compare.reprice.help"))
    cols = st.columns([1.1, 1.8, 1.4, 1.4, 1.4])
    presets = [p for p in PRESETS if p != "custom"]
    preset = cols[0].selectbox(
        t("explore.period"),
        presets,
        index=presets.index("last_30"),
        key="cmp_preset",
        format_func=lambda p: t(f"explore.preset.{p}"),
    )
    start, end = period(preset, today)
    ctx = ctx.at(min(end - timedelta(days=1), today))  # the period's money at its last day's rate
    ctx.rate_note()
    orgs = cols[1].multiselect(
        t("compare.period_orgs"),
        [o["id"] for o in ctx.orgs],
        default=[ctx.org_id],
        format_func=ctx.org_label,
        key="cmp_orgs",
    )
    choices = dimension_choices(tuple(orgs), start, end)
    filters = {
        d: col.multiselect(
            t(f"common.{d}"), choices.get(d, []), key=f"cmp_f_{d}", format_func=lambda v: v or t("common.none")
        )
        for col, d in zip(cols[2:], ("project", "api_key", "model"))
    }
    work, now, frame = reprice_data(
        tuple(orgs), start, end, tuple((d, tuple(v)) for d, v in filters.items() if v), candidates, today
    )
    if frame.empty:
        st.info(t("compare.reprice.empty") if not work.parts else t("compare.no_candidates"))
    else:
        priced = frame.dropna(subset=["cost_usd"])
        per_model = reprice_models_data(
            tuple(orgs), start, end, tuple((d, tuple(v)) for d, v in filters.items() if v), candidates, today
        )
        saving = sum(v for v in per_model["saving_usd"] if v is not None and v == v)
        m = st.columns(3)
        m[0].metric(t("compare.reprice.actual"), ctx.money(work.actual_cost), border=True)
        m[1].metric(
            t("compare.reprice.today"),
            ctx.money(now.cost) if now.cost is not None else "–",
            border=True,
            help=t("compare.reprice.today_help"),
        )
        m[2].metric(
            t("compare.reprice.best_mix"),
            ctx.money(saving),
            border=True,
            help=t("compare.reprice.best_mix_help"),
        )
        if now.cost is None:
            st.warning(t("compare.reprice.unpriced"))
        st.markdown(f"##### {t('compare.reprice.by_model')}")
        st.caption(t("compare.reprice.by_model_help"))
        kinds = candidate_kinds(candidates)
        missing = sorted({k for k in per_model["kind"] if not kinds.get(k)})
        if missing:
            st.info(t("compare.reprice.no_kind", kinds=", ".join(t(f"compare.kind.{k}") for k in missing)))
        table(
            shown(per_model.assign(kind=per_model["kind"].map(lambda k: t(f"compare.kind.{k}"))), ctx).assign(
                best_model=per_model["best_model"].replace("", t("compare.reprice.keep"))
            ),
            hide_index=True,
            width="stretch",
            column_config=config(cur),
        )
        mix = work.mix()
        st.markdown(f"##### {t('compare.reprice.mix')}")
        table(
            [
                {t(f"compare.mix.{k}"): tokens(v) if k != "requests" else number(v) for k, v in mix.items()}
                | {t("compare.mix.batch_share"): percent(work.batch_share)}
            ],
            hide_index=True,
            width="stretch",
            column_config=explained(
                {},
                {
                    t("compare.mix.cached_input_tokens"): "cached_input",
                    t("compare.mix.cache_write_tokens"): "cache_writes",
                },
            ),
        )
        st.markdown(f"##### {t('compare.reprice.all_on_one')}")  # above its tabs, as every heading
        chart_tab, data_tab = st.tabs([t("common.chart"), t("common.table")])
        mix_row = {"model": t("compare.reprice.current_mix"), "cost_usd": now.cost, "current": True}
        bars = priced.assign(current=False)
        if now.cost is not None:
            bars = pd.concat([bars, pd.DataFrame([mix_row])], ignore_index=True)
        chart_tab.plotly_chart(
            charts.cost_bars(
                shown(bars, ctx),
                "model",
                "cost_usd",
                "current",
                ctx.symbol,
                t("compare.reprice.current"),
                t("compare.reprice.candidate"),
            ),
            width="stretch",
        )
        with data_tab:
            table_with_download(shown(frame, ctx), f"reprice-{start}-{end}", "cmp_reprice_csv", cur)
        st.caption(t("compare.reprice.note"))


def what_if(ctx: PageContext, candidates: Candidates, today: date) -> Profile | None:
    """A traffic profile typed in, priced on each candidate; returns the profile (the quality tab uses it)."""
    cur = ctx.currency
    st.caption(t("compare.what_if.help"))
    a = st.columns(4)
    b = st.columns(4)
    inputs = dict(
        requests_per_day=a[0].number_input(t("compare.what_if.requests"), 0, 10**9, 10_000, 1000, key="wi_rpd"),
        prompt_tokens=a[1].number_input(t("compare.what_if.prompt"), 0, 10**7, 1500, 100, key="wi_prompt"),
        completion_tokens=a[2].number_input(t("compare.what_if.completion"), 0, 10**6, 300, 50, key="wi_completion"),
        cache_hit_rate=a[3].number_input(t("compare.what_if.cache"), 0, 100, 30, 5, key="wi_cache") / 100,
        batch_share=b[0].number_input(t("compare.what_if.batch"), 0, 100, 0, 5, key="wi_batch") / 100,
        max_tokens=b[1].number_input(t("compare.what_if.max_tokens"), 0, 10**6, 1024, 64, key="wi_max"),
        n=b[2].number_input(t("compare.what_if.n"), 1, 128, 1, key="wi_n"),
        best_of=b[3].number_input(t("compare.what_if.best_of"), 0, 128, 0, key="wi_best_of"),
    )
    try:
        profile = Profile.make(**{k: None if k == "best_of" and not v else str(v) for k, v in inputs.items()})
    except CompareError as exc:
        profile = None
        st.error(md(str(exc)))
    if profile is not None and candidates:
        st.caption(
            t("compare.what_if.monthly", requests=number(profile.monthly_requests), days=profile.days)
            + " "
            + (
                t(
                    "compare.what_if.bound",
                    bound=number(profile.worst_output),
                    max_tokens=profile.max_tokens,
                    choices=profile.choices,
                )
                if profile.worst_output is not None
                else t("compare.what_if.no_bound")
            )
        )
        frame = shown(what_if_data(profile, candidates, today), ctx)
        chart_tab, data_tab = st.tabs([t("common.chart"), t("common.table")])
        chart_tab.plotly_chart(
            charts.cost_bars(frame.dropna(subset=["expected_usd"]), "model", "expected_usd", symbol=ctx.symbol),
            width="stretch",
        )
        with data_tab:
            table_with_download(frame, "what-if", "cmp_what_if_csv", cur)
    elif not candidates:
        st.info(t("compare.no_candidates"))
    return profile


def token_estimate(ctx: PageContext, candidates: Candidates, today: date) -> None:
    """A prompt's tokens and cost per call on each candidate."""
    cur = ctx.currency
    st.caption(t("compare.tokens.help"))
    prompt = st.text_area(
        t("compare.tokens.prompt"), placeholder=t("compare.tokens.placeholder"), height=160, key="tok_prompt"
    )
    output = st.number_input(t("compare.tokens.output"), 0, 10**6, 300, 50, key="tok_output")
    if not prompt:
        st.info(t("compare.tokens.empty"))
    elif candidates:
        frame = shown(token_counts(prompt, candidates, int(output), today), ctx)
        frame["per_call"] = frame["cost_usd"]
        table(
            frame.drop(columns=["cost_usd"]),
            hide_index=True,
            width="stretch",
            column_config=config(cur)
            | {
                "per_call": st.column_config.NumberColumn(t("compare.col.per_call", currency=cur), format="%.6f"),
                "per_1k_usd": money_column(t("compare.col.per_1k_calls", currency=cur), cur),
            },
        )


def quality(ctx: PageContext, profile: Profile | None, today: date) -> None:
    """Uploaded quality scores against the cost of the what-if profile: the frontier."""
    cur = ctx.currency
    st.caption(t("compare.quality.help"))
    upload = st.file_uploader(t("compare.quality.upload"), type=["csv"], key="q_upload")
    example = "model,score\ngpt-4o,0.86\ngpt-4o-mini,0.80\nclaude-haiku-4-5,0.79\nclaude-sonnet-4-5,0.90\n"
    st.download_button(
        t("compare.quality.example"), example, "scores.csv", "text/csv", key="q_example", on_click="ignore"
    )
    if upload is None:
        st.info(t("compare.quality.empty"))
    else:
        try:
            active = profile or Profile.make(1, 1500, 300)  # the what-if profile, n and best_of included
            frame = frontier_data(upload.getvalue(), upload.name, active, today)
        except CompareError as exc:
            st.error(md(str(exc)))
        else:
            frame = shown(frame, ctx, ("cost_per_1k",))
            frame["score"] = frame["score"].astype(float)
            chart_tab, data_tab = st.tabs([t("common.chart"), t("common.table")])
            chart_tab.plotly_chart(
                charts.frontier(
                    frame.dropna(subset=["cost_per_1k"]),
                    "cost_per_1k",
                    "score",
                    "model",
                    "dominated",
                    ctx.symbol,
                    t("compare.quality.frontier"),
                    t("compare.quality.dominated"),
                    x_title=t("compare.quality.x", currency=cur, choices=active.choices),
                    y_title=t("compare.quality.y"),
                ),
                width="stretch",
            )
            with data_tab:
                table_with_download(frame, "frontier", "cmp_frontier_csv", cur)
