"""Model comparison page: "what would project Y cost on model Z?", what-if, tokens, frontier errors."""

from datetime import UTC, datetime, timedelta

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


def test_what_would_project_y_cost_on_model_z():
    _project_y()
    at = run_page(
        PAGE,
        user=ENGINEER,
        session={
            "cmp_f_project": ["y"],
            "cmp_candidates": [("openai", "gpt-4o-mini"), ("anthropic", "claude-haiku-4-5")],
        },
    )
    assert not at.exception
    assert [m.value for m in at.metric[:3]] == ["$6.38", "$6.38", "$0.38"]
    assert at.metric[2].label.replace("\\", "") == "Cheapest candidate: gpt-4o-mini"  # escaped as markdown
    assert at.metric[2].delta == "saving $5.99 vs today"
    frame = _frame(at, "cost_usd")
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
