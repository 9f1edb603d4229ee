"""Alert rules: what should have fired for an org right now. Spend, forecasts, credits and spikes
all come from models/; nothing here sums usage.

| rule | fires when | threshold | period |
| --- | --- | --- | --- |
| threshold | month-to-date spend >= pct% of the soft limit (the hard one if no soft) | pct | YYYY-MM |
| forecast_soft | the p50 month-end forecast >= the soft limit, not yet reached | 100 | YYYY-MM |
| forecast_hard | the p50 month-end forecast >= the hard limit, not yet reached | 100 | YYYY-MM |
| hard_limit | month-to-date spend >= the hard limit | 100 | YYYY-MM |
| credit_low | a grant is used up, or runs out within 7 days at the last 7 days' rate | 7 | grant-ID |
| credit_expiring | a grant expires within 7 days with credit left | 7 | grant-ID |
| spike | a day's spend (today so far, or yesterday) is far above its robust baseline | 0 | YYYY-MM-DD |

Limit rules run per limit (the org's and each project's); credit and spike rules per org.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from alerts.render import usd as _usd
from models.access.orgs import get_org
from models.budgets import billing
from models.budgets.credits import GrantStatus, credit_status
from models.budgets.limits import Limit, limits
from models.budgets.spike import detect_spike
from models.db import session_scope

if TYPE_CHECKING:  # the module itself loads only for an org with limits (see org_candidates)
    from models.budgets.forecast import ScopeForecast

CREDIT_DAYS = 7
MIN_HISTORY_DAYS = 7  # fewer days of history: the forecast is shown, but forecast alerts wait


@dataclass
class Candidate:
    org_id: str
    project_id: str
    rule: str
    threshold: int
    period: str
    headline: str
    facts: dict[str, object] = field(default_factory=dict)
    state: str = "fired"  # or "superseded": recorded, not sent, because a stronger one fired with it
    # The headline as a key of alerts/locales and its values, to write it in a recipient's language
    # and currency (`headline` is the English-in-USD one, kept for the history page and webhooks).
    say: tuple[str, dict[str, object]] | None = None

    @property
    def key(self) -> tuple[str, str, int, str]:
        return (self.project_id, self.rule, self.threshold, self.period)

    @property
    def family(self) -> str | None:
        """Rules whose new alerts in one evaluation are merged into the strongest one."""
        return {"threshold": "threshold", "forecast_soft": "forecast", "forecast_hard": "forecast"}.get(self.rule)

    @property
    def strength(self) -> int:
        return self.threshold + (1000 if self.rule == "forecast_hard" else 0)


def scope_facts(fc: ScopeForecast, limit: Limit) -> dict[str, object]:
    return {
        "month": fc.forecast.month,
        "spent_usd": fc.spent,
        "soft_limit_usd": limit.soft_usd,
        "hard_limit_usd": limit.hard_usd,
        "quota_usd": limit.quota_usd,
        "p10_usd": fc.p10,
        "p50_usd": fc.p50,
        "p90_usd": fc.p90,
        "soft_cross_date": fc.soft_cross,
        "hard_cross_date": fc.hard_cross,
    }


def limit_candidates(limit: Limit, fc: ScopeForecast) -> list[Candidate]:
    out = []
    period = fc.forecast.month
    facts = scope_facts(fc, limit)
    spent, soft, hard = fc.spent, limit.soft_usd, limit.hard_usd

    def add(rule: str, threshold: int, headline: str, say: tuple[str, dict[str, object]]) -> None:
        out.append(Candidate(limit.org_id, limit.project_id, rule, threshold, period, headline, facts, say=say))

    base, base_name = (soft, "soft") if soft is not None else (hard, "hard")
    if base is not None:
        for pct in limit.thresholds:
            if spent >= base * pct / 100:
                add(
                    "threshold",
                    pct,
                    f"{pct}% of the {base_name} limit reached ({_usd(spent)} of {_usd(base)})",
                    ("threshold", {"pct": pct, "limit": base_name, "spent_usd": spent, "base_usd": base}),
                )
    enough_history = fc.forecast.history_days >= MIN_HISTORY_DAYS
    if soft is not None and spent < soft and enough_history and fc.p50 >= soft:
        when = f" around {fc.soft_cross.isoformat()}" if fc.soft_cross else ""
        add(
            "forecast_soft",
            100,
            f"forecast to exceed the soft limit this month{when} ({_usd(fc.p50)} expected, limit {_usd(soft)})",
            (
                "forecast_soft_on" if fc.soft_cross else "forecast_soft",
                {"day": fc.soft_cross, "p50_usd": fc.p50, "limit_usd": soft},
            ),
        )
    if hard is not None and spent < hard and enough_history and fc.p50 >= hard:
        when = f" around {fc.hard_cross.isoformat()}" if fc.hard_cross else ""
        add(
            "forecast_hard",
            100,
            f"forecast to exceed the hard limit this month{when} ({_usd(fc.p50)} expected, limit {_usd(hard)})",
            (
                "forecast_hard_on" if fc.hard_cross else "forecast_hard",
                {"day": fc.hard_cross, "p50_usd": fc.p50, "limit_usd": hard},
            ),
        )
    if hard is not None and spent >= hard:
        add(
            "hard_limit",
            100,
            f"hard limit reached ({_usd(spent)} of {_usd(hard)})",
            ("hard_limit", {"spent_usd": spent, "hard_usd": hard}),
        )
    return out


def credit_candidates(
    org_id: str, today: date, grants: list[GrantStatus], daily: dict[date, Decimal]
) -> list[Candidate]:
    out = []
    recent = [daily.get(today - timedelta(days=k), Decimal(0)) for k in range(1, 8)]
    rate = sum(recent, Decimal(0)) / 7
    for g in grants:
        if g.state not in ("active", "used up") or g.expires_on <= today:
            continue
        facts = {"grant_usd": g.amount_usd, "remaining_usd": g.remaining_usd, "expires_on": g.expires_on}
        period = f"grant-{g.id}"
        if g.remaining_usd <= 0:
            out.append(
                Candidate(
                    org_id,
                    "",
                    "credit_low",
                    CREDIT_DAYS,
                    period,
                    f"credit grant of {_usd(g.amount_usd)} is used up",
                    facts,
                    say=("credit_used_up", {"amount_usd": g.amount_usd}),
                )
            )
        elif rate > 0 and g.remaining_usd / rate <= CREDIT_DAYS:
            days = int(g.remaining_usd / rate)
            left = "less than a day" if days == 0 else f"about {days} day{'s' if days != 1 else ''}"
            out.append(
                Candidate(
                    org_id,
                    "",
                    "credit_low",
                    CREDIT_DAYS,
                    period,
                    f"credit grant running out: {_usd(g.remaining_usd)} of {_usd(g.amount_usd)} left, "
                    f"{left} at the current rate",
                    facts | {"days_left": days},
                    say=(
                        "credit_running_out_today" if days == 0 else "credit_running_out",
                        {"remaining_usd": g.remaining_usd, "amount_usd": g.amount_usd, "days": days},
                    ),
                )
            )
        if g.remaining_usd > 0 and (g.expires_on - today).days <= CREDIT_DAYS:
            out.append(
                Candidate(
                    org_id,
                    "",
                    "credit_expiring",
                    CREDIT_DAYS,
                    period,
                    f"credit grant expires on {g.expires_on.isoformat()} with {_usd(g.remaining_usd)} unused",
                    facts,
                    say=("credit_expiring", {"day": g.expires_on, "remaining_usd": g.remaining_usd}),
                )
            )
    return out


def spike_candidates(org_id: str, today: date, daily: dict[date, Decimal]) -> list[Candidate]:
    out = []
    for day in (today - timedelta(days=1), today):
        spike = detect_spike(daily, day)
        if spike is not None:
            label = "today so far" if day == today else day.isoformat()
            out.append(
                Candidate(
                    org_id,
                    "",
                    "spike",
                    0,
                    day.isoformat(),
                    f"spend spike {label}: {_usd(spike.spend)}, {spike.ratio:.1f}x the usual {_usd(spike.baseline)}",
                    {"day": day, "day_spend_usd": spike.spend, "baseline_usd": spike.baseline},
                    say=(
                        "spike_today" if day == today else "spike_day",
                        {
                            "day": day,
                            "spend_usd": spike.spend,
                            "ratio": f"{spike.ratio:.1f}",
                            "baseline_usd": spike.baseline,
                        },
                    ),
                )
            )
    return out


def org_candidates(org_id: str, now: datetime | None = None) -> list[Candidate]:
    """Every alert that should have fired for this org by `now` (fired or not)."""
    now = now or datetime.now(UTC)
    with session_scope() as session:
        timezone = get_org(session, org_id).timezone
    today = billing.local_today(timezone, now)
    out: list[Candidate] = []
    org_limits = limits(org_id)
    if org_limits:
        # lazy: the forecast brings numpy, 0.45 s of `spendsight ingest`'s start (-X importtime) that
        # an org without limits, which forecasts nothing here, need not pay.
        from models.budgets.forecast import forecast_org_scopes

        # Every limit's scope forecast from one read of the org (not one per limit: issue 15's cost target).
        forecasts = forecast_org_scopes(
            org_id, [limit.project_id or None for limit in org_limits], now=now, org_limits=org_limits
        )
        for limit in org_limits:
            out += limit_candidates(limit, forecasts[limit.project_id or None])
    daily = billing.daily_spend(org_id, today - timedelta(days=35), today + timedelta(days=1))
    grants = credit_status(org_id, today)
    if grants:
        out += credit_candidates(org_id, today, grants, daily)
    out += spike_candidates(org_id, today, daily)
    return out
