"""Model comparison math, one hand-computed case per mode (prices: genai-prices' bundled data)."""

from datetime import date
from decimal import Decimal

import pytest

from models.spend.compare import (
    CompareError,
    Profile,
    call_cost,
    count_tokens,
    encoding,
    frontier,
    model_kind,
    parse_scores,
    reprice,
    reprice_by_model,
    what_if,
    workload,
)
from tests.factories import add_usage, make_org, usage

AT = date(2026, 11, 1)
GPT4O, MINI, HAIKU = ("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-haiku-4-5")


@pytest.fixture
def project_y():
    """Project y on gpt-4o: 2 requests, 2M prompt tokens (0.5M cached), 0.2M output; plus an unrelated project."""
    make_org("org-c", "Compare Org")
    add_usage(
        usage(
            "org-c",
            "2026-11-02T10:00:00Z",
            model="gpt-4o",
            project_id="y",
            input_tokens=1_200_000,
            cached_input_tokens=500_000,
            output_tokens=150_000,
        ),
        usage(
            "org-c", "2026-11-03T10:00:00Z", model="gpt-4o", project_id="y", input_tokens=800_000, output_tokens=50_000
        ),
        usage("org-c", "2026-11-03T10:00:00Z", model="o3", project_id="other", input_tokens=5_000_000),
    )
    return "org-c"


def test_reprice_a_real_workload_on_candidates(project_y):
    work = workload(["org-c"], date(2026, 11, 1), date(2026, 12, 1), {"project": ["y"]})
    assert work.requests == 2 and work.models == [GPT4O]
    assert work.mix() == {
        "requests": 2,
        "uncached_input_tokens": 1_500_000,
        "cached_input_tokens": 500_000,
        "cache_write_tokens": 0,
        "output_tokens": 200_000,
        "reasoning_tokens": 0,
    }
    # gpt-4o: 2M x $2.50 - 0.5M x ($2.50 - $1.25) + 0.2M x $10 per million = $6.375
    assert work.actual_cost == Decimal("6.375")
    today, options = reprice(work, [MINI, HAIKU, GPT4O, ("nobody", "no-such-model")], AT)
    assert today.cost == Decimal("6.375") and today.current
    costs = {(o.provider, o.model): o.cost for o in options}
    # gpt-4o-mini: 2M x 0.15 - 0.5M x 0.075 + 0.2M x 0.60 = 0.3825
    assert costs[MINI] == Decimal("0.3825")
    # claude-haiku-4-5: 2M x 1.00 - 0.5M x 0.90 + 0.2M x 5.00 = 2.55
    assert costs[HAIKU] == Decimal("2.55")
    assert costs[GPT4O] == Decimal("6.375") and costs[("nobody", "no-such-model")] is None
    assert [o.model for o in options][:3] == ["gpt-4o-mini", "claude-haiku-4-5", "gpt-4o"]
    mini = options[0]
    assert mini.per_1k_requests == Decimal("191.25") and not mini.current
    assert today.cost - mini.cost == Decimal("5.9925")  # the saving


def test_reprice_keeps_the_batch_share_at_batch_prices(project_y):
    add_usage(
        usage("org-c", "2026-11-04T10:00:00Z", model="gpt-4o", project_id="y", batch=True, input_tokens=1_000_000)
    )
    work = workload(["org-c"], date(2026, 11, 1), date(2026, 12, 1), {"project": ["y"]})
    assert work.batch_share == Decimal(1) / Decimal(3)
    today, options = reprice(work, [MINI], AT)
    assert today.cost == Decimal("6.375") + Decimal("1.25")  # 1M batch input at half of $2.50
    assert options[0].cost == Decimal("0.3825") + Decimal("0.075")  # and at half of $0.15


def test_what_if_expected_and_worst_case():
    profile = Profile.make(
        requests_per_day=1000, prompt_tokens=1000, completion_tokens=200, cache_hit_rate="0.5", max_tokens=500
    )
    row = what_if(profile, [GPT4O], AT)[0]
    # 30k requests/month: 30M prompt (15M cached), 6M output on gpt-4o:
    # 30 x 2.50 - 15 x 1.25 + 6 x 10 = 116.25; worst: 30M uncached + 30k x 500 = 15M output -> 75 + 150 = 225
    assert row.expected == Decimal("116.25") and row.worst == Decimal("225")
    assert row.per_1k_requests == Decimal("3.875")
    # n=2, best_of=3: max(n, best_of) = 3 generations; expected 600 out/request, bound 1,500
    bound = Profile.make(1000, 1000, 200, "0.5", 0, max_tokens=500, n=2, best_of=3)
    assert bound.worst_output == 1500 and bound.expected_output == 600
    row = what_if(bound, [GPT4O], AT)[0]
    assert row.expected == Decimal("236.25") and row.worst == Decimal("525")
    # completions longer than max_tokens are cut at max_tokens
    assert Profile.make(10, 10, 900, max_tokens=500).expected_output == 500
    # half through batch: gpt-4o-mini standard 0.5 x (30 x 0.15 - 15 x 0.075 + 6 x 0.60) = 3.4875, plus
    # genai-prices' batch price (0.075 in, 0.30 out, no cache-read price) 0.5 x (30 x 0.075 + 6 x 0.30) = 2.025
    half = what_if(Profile.make(1000, 1000, 200, "0.5", "0.5"), [MINI], AT)[0]
    assert half.expected == Decimal("5.5125") and half.worst is None  # no max_tokens: no bound
    assert half.notes == ("batch price from genai-prices",)


def test_what_if_rejects_bad_input_naming_the_field():
    with pytest.raises(CompareError, match="cache-hit rate: must be between 0 and 1"):
        Profile.make(10, 100, 100, cache_hit_rate="1.5")
    with pytest.raises(CompareError, match="best_of: must be at least 1"):
        Profile.make(10, 100, 100, best_of=0)
    with pytest.raises(CompareError, match="prompt tokens: expected a number"):
        Profile.make(10, "lots", 100)


def test_token_counts_are_tiktoken_for_openai_and_labelled_estimates_otherwise():
    assert encoding("o200k_base").encode("hello world") == [24912, 2375]
    assert encoding("cl100k_base").encode("hello world") == [15339, 1917]
    count = count_tokens("hello world", "openai", "gpt-4o")
    assert (count.tokens, count.exact, count.method) == (2, True, "tiktoken o200k_base")
    assert count_tokens("hello world", "openai", "gpt-4").method == "tiktoken cl100k_base"
    claude = count_tokens("hello world", "anthropic", "claude-haiku-4-5")
    assert claude.tokens == 2 and not claude.exact and claude.method.startswith("≈")
    assert count_tokens("<|endoftext|>", "openai", "gpt-4o").tokens > 1  # user text, not a special token
    # one call: 1,000 prompt + 500 output tokens on gpt-4o = 0.0025 + 0.005
    assert call_cost(GPT4O, 1000, 500, AT) == Decimal("0.0075")
    assert call_cost(("nobody", "nothing"), 1000, 500, AT) is None


SCORES = "model,score\ngpt-4o,0.86\ngpt-4o-mini,0.80\nclaude-haiku-4-5,0.79\nclaude-sonnet-4-5,0.90\n"


def test_cost_quality_frontier_marks_dominated_models():
    scores = parse_scores(SCORES)
    assert [(s.provider, s.line) for s in scores] == [("openai", 2), ("openai", 3), ("anthropic", 4), ("anthropic", 5)]
    frame = frontier(scores, Profile.make(1000, 1000, 200), AT).set_index("model")
    # per 1k requests of 1,000 in / 200 out: gpt-4o 2.50 + 2.00 = 4.50; mini 0.15 + 0.12 = 0.27;
    # haiku 1.00 + 1.00 = 2.00; sonnet 3.00 + 3.00 = 6.00
    assert frame.loc["gpt-4o-mini", "cost_per_1k"] == Decimal("0.27")
    assert frame.loc["claude-haiku-4-5", "cost_per_1k"] == Decimal("2.00")
    assert frame["dominated"].to_dict() == {
        "claude-sonnet-4-5": False,
        "gpt-4o": False,
        "gpt-4o-mini": False,
        "claude-haiku-4-5": True,
    }  # dearer than mini and scores lower


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "the file is empty"),
        ("name,points\ngpt-4o,1\n", "line 1: the header must name the columns model and score"),
        ("model,score\ngpt-4o,high\n", "line 2 field 'score': expected a number, got 'high'"),
        (
            "model,score\n\ngpt-4o,1\nmade-up-model,2\n",
            "line 4 field 'model': 'made-up-model' is not in the price catalog",
        ),
        ("model,score\ngpt-4o,1\ngpt-4o,2\n", "line 3 field 'model': 'gpt-4o' is already on line 2"),
        ("model,score\n,1\n", "line 2 field 'model': empty"),
        ("model,score\n", "no rows after the header"),
        (b"\xff\xfe\x00", "not UTF-8"),
    ],
)
def test_score_csv_errors_name_line_and_field(content, message):
    with pytest.raises(CompareError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_scores(content, source="evals.csv")


def test_model_kinds_from_names():
    kinds = {m: model_kind(m) for m in ("gpt-4o", "text-embedding-3-small", "o3", "o4-mini", "gpt-5", "gpt-5-chat")}
    assert kinds == {
        "gpt-4o": "chat",
        "text-embedding-3-small": "embedding",
        "o3": "reasoning",
        "o4-mini": "reasoning",
        "gpt-5": "reasoning",
        "gpt-5-chat": "chat",
    }
    assert model_kind("deepseek-reasoner") == "reasoning" and model_kind("claude-sonnet-4-5") == "chat"


def test_reprice_by_model_keeps_embeddings_off_chat_models(project_y):
    add_usage(usage("org-c", "2026-11-04T10:00:00Z", model="text-embedding-3-small", input_tokens=1_000_000))
    work = workload(["org-c"], date(2026, 11, 1), date(2026, 12, 1))
    rows = {r.model: r for r in reprice_by_model(work, [MINI, ("openai", "o4-mini")], AT)}
    assert rows["gpt-4o"].best_model == "gpt-4o-mini" and rows["gpt-4o"].best_cost == Decimal("0.3825")
    assert rows["o3"].best_model == "o4-mini"  # 5M input: $10 on o3, $5.50 on o4-mini
    assert rows["o3"].saving == Decimal("4.5")
    embed = rows["text-embedding-3-small"]
    assert embed.kind == "embedding" and embed.options == {} and embed.best_model == ""  # no embedding candidate
    assert rows["gpt-4o"].saving == Decimal("6.375") - Decimal("0.3825") and embed.saving is None


def test_best_of_below_n_is_refused_and_max_tokens_zero_means_no_limit():
    with pytest.raises(CompareError, match=r"best_of \(1\) must be at least n \(2\)"):
        Profile.make(10, 100, 100, n=2, best_of=1)
    assert Profile.make(10, 100, 100, n=2).choices == 2  # best_of not sent: n generations
    assert Profile.make(10, 100, 100, max_tokens="0").worst_output is None
    assert Profile.make(10, 100, 100, max_tokens=0).max_tokens is None
