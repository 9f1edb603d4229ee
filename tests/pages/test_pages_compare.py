"""Model comparison page: "what would project Y cost on model Z?", what-if, tokens, frontier errors."""

import csv
import io
from datetime import UTC, datetime, timedelta

from models.access.roles import Actor
from models.fx import set_rate
from models.units import add_months
from tests.factories import add_usage, make_org, usage
from tests.pageutil import run_page, texts

PAGE = "pages/5_Model_comparison.py"
ENGINEER = "engineer@example.com"


def _project_y():
    at = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
    make_org("org-c", "Compare Org", readers=(ENGINEER,))
    add_usage(
        usage(
            "org-c",
            at,
            model="gpt-4o",
            project_id="y",
            input_tokens=1_200_000,
            cached_input_tokens=500_000,
            output_tokens=150_000,
        ),
        usage("org-c", at, model="gpt-4o", project_id="y", input_tokens=800_000, output_tokens=50_000),
        usage("org-c", at, model="o3", project_id="other", input_tokens=5_000_000),
    )


def _frame(at, column):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _y_on_mini_and_haiku():
    """The page as the engineer asks: project y, repriced on gpt-4o-mini and claude-haiku-4-5."""
    candidates = [("openai", "gpt-4o-mini"), ("anthropic", "claude-haiku-4-5")]
    return run_page(PAGE, user=ENGINEER, session={"cmp_f_project": ["y"], "cmp_candidates": candidates})


def test_what_would_project_y_cost_on_model_z():
    _project_y()
    at = _y_on_mini_and_haiku()
    assert not at.exception
    assert [m.value for m in at.metric[:3]] == ["$6.38", "$6.38", "$5.99"]
    assert at.metric[2].label == "Saving, model by model"
    by_model = _frame(at, "best_model")
    assert by_model[["model", "kind", "cost_usd", "best_model", "best_usd"]].values.tolist() == [
        ["gpt-4o", "chat", 6.375, "gpt-4o-mini", 0.3825]
    ]
    frame = _frame(at, "per_1k_usd")
    assert list(frame["model"]) == ["gpt-4o-mini", "claude-haiku-4-5"]
    assert list(frame["cost_usd"]) == [0.3825, 2.55]
    assert list(frame["per_1k_usd"]) == [191.25, 1275.0]


def test_what_if_and_token_estimate_in_chinese():
    _project_y()
    at = run_page(
        PAGE,
        user=ENGINEER,
        session={
            "lang": "zh",
            "cmp_candidates": [("openai", "gpt-4o")],
            "wi_rpd": 1000,
            "wi_prompt": 1000,
            "wi_completion": 200,
            "wi_cache": 50,
            "wi_max": 500,
            "wi_n": 2,
            "wi_best_of": 3,
            "tok_prompt": "hello world",
            "tok_output": 500,
        },
    )
    assert not at.exception
    assert at.title[0].value == "模型对比"
    what_if = _frame(at, "expected_usd")
    assert what_if["expected_usd"].tolist() == [236.25] and what_if["worst_usd"].tolist() == [525.0]
    assert "最多 1,500 个输出令牌" in texts(at)
    counted = _frame(at, "tokens")
    assert counted[["tokens", "exact", "method"]].values.tolist() == [[2, True, "tiktoken o200k_base"]]
    assert counted["per_call"].tolist() == [0.005005]  # 2 x $2.50/M + 500 x $10/M


def test_no_usage_and_bad_profile_messages():
    make_org("org-empty", "Empty", readers=(ENGINEER,))
    at = run_page(PAGE, user=ENGINEER, session={"wi_best_of": 1, "wi_cache": 50})
    assert not at.exception
    assert "Spend explorer" in texts(at)  # the empty state points to where usage is
    assert "Paste a prompt" in texts(at)


def test_reprice_moves_each_model_only_to_its_own_kind():
    """Embeddings stay on embedding models and reasoning on reasoning models; the headline adds up
    only such moves, and the "in use" bar is the current mix at today's prices."""
    at_time = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
    make_org("org-k", "Kinds", readers=(ENGINEER,))
    add_usage(
        usage("org-k", at_time, model="gpt-4o", input_tokens=1_000_000),  # $2.50
        usage("org-k", at_time, model="text-embedding-3-large", input_tokens=10_000_000),  # $1.30
        usage("org-k", at_time, model="o3", input_tokens=1_000_000),  # $2.00
    )
    candidates = [("openai", "gpt-4o-mini"), ("openai", "text-embedding-3-small"), ("openai", "o4-mini")]
    at = run_page(PAGE, user=ENGINEER, session={"cmp_candidates": candidates})
    assert not at.exception
    by_model = _frame(at, "best_model").set_index("model")
    assert by_model.loc["gpt-4o", "best_model"] == "gpt-4o-mini" and by_model.loc["gpt-4o", "kind"] == "chat"
    assert by_model.loc["text-embedding-3-large", "best_model"] == "text-embedding-3-small"
    assert by_model.loc["text-embedding-3-large", "best_usd"] == 0.2  # 10M x $0.02, never a chat model
    assert by_model.loc["o3", "best_model"] == "o4-mini" and by_model.loc["o3", "kind"] == "reasoning"
    # $2.50 - $0.15 + $1.30 - $0.20 + $2.00 - $1.10
    assert at.metric[2].value == "$4.35"
    assert at.metric[1].proto.help.startswith("What the current mix")


def test_what_if_refuses_best_of_below_n_and_max_tokens_zero_is_no_limit():
    make_org("org-w", "What-if", readers=(ENGINEER,))
    base = {"cmp_candidates": [("openai", "gpt-4o")], "wi_n": 3, "wi_best_of": 2}
    at = run_page(PAGE, user=ENGINEER, session=base)
    assert "best_of (2) must be at least n (3): the provider refuses best_of < n" in texts(at)
    at = run_page(PAGE, user=ENGINEER, session={**base, "wi_best_of": 0, "wi_max": 0})
    assert not at.exception and "must be" not in texts(at)
    assert "Set max_tokens to see the worst case." in texts(at)  # 0 is "no limit", as the field says
    assert _frame(at, "expected_usd")["worst_usd"].isna().all()


def test_repricing_last_month_in_cny_uses_last_month_s_rate():
    """The repriced period's money at the rate in force on its last day, as the explorer shows it."""
    first = datetime.now(UTC).date().replace(day=1)
    last_month = add_months(first, -1)
    make_org("org-c", "Compare Org", readers=(ENGINEER,))
    at_day = datetime(last_month.year, last_month.month, 10, 12, tzinfo=UTC)
    add_usage(usage("org-c", at_day, model="gpt-4o", project_id="y", input_tokens=1_000_000))  # $2.50
    set_rate(Actor.cli(), "CNY", "7.00", last_month)
    set_rate(Actor.cli(), "CNY", "8.00", first)
    at = run_page(PAGE, user=ENGINEER, session={"cmp_preset": "last_month", "currency": "CNY"})
    assert not at.exception
    assert at.metric[0].value == "¥17.50"  # $2.50 at 7.00, not today's 8.00
    assert f"at 7.00 CNY/USD since {last_month}" in texts(at)


def test_the_reprice_download_says_savings_as_percentages_and_money_in_cents(downloads):
    _project_y()
    downloads.clear()
    at = _y_on_mini_and_haiku()
    assert not at.exception

    text = next(d for d in downloads if d.startswith(b"\xef\xbb\xbf")).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    saving = [r["Saving %"] for r in rows if r["Saving %"]]
    assert saving and all(v.endswith("%") for v in saving), rows[0]
    costs = [r[k] for r in rows for k in r if k.startswith("Cost")]
    assert costs and all(len(v.split(".")[-1]) == 2 for v in costs if v), costs
