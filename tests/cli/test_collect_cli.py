"""`spendsight source ...`, `collect` and `report [--billed]` against the local provider server."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text

from models.db import get_engine
from models.pricing.catalog import get_catalog
from tests.conftest import REPO
from tests.provider_server import OPENAI_USAGE, Faults

OPENAI_REQUESTS = ("completions", "embeddings", "moderations", "images", "audio_speeches", "audio_transcriptions")


def rows(sql, **params):
    with get_engine().connect() as conn:
        return conn.execute(text(sql), params).all()


def setup_org(cli, org="org-cli"):
    assert cli("org", "add", "--id", org, "--name", "CLI Org")[0] == 0


def report_total(cli, org, server):
    start = server.data_start.date().isoformat()
    end = (server.data_end + timedelta(days=1)).date().isoformat()
    code, out, err = cli("report", "--org", org, "--start", start, "--end", end, "--format", "json")
    assert code == 0, err
    return json.loads(out)[0]


def expected_openai_totals(server) -> dict[str, int]:
    totals = {"requests": 0, "input_tokens": 0, "cached_input_tokens": 0, "output_tokens": 0}
    for kind in OPENAI_REQUESTS:
        truth = server.truth_openai(kind)
        totals["requests"] += truth.get("num_model_requests", 0)
        totals["input_tokens"] += truth.get("input_tokens", 0)
        totals["cached_input_tokens"] += truth.get("input_cached_tokens", 0)
        totals["output_tokens"] += truth.get("output_tokens", 0)
    return totals


def anthropic_cost(server) -> Decimal:
    """The catalog's price of every generated Anthropic hour, priced at its own UTC date."""
    catalog = get_catalog()
    total = Decimal(0)
    for hour, r in server.truth_hourly_rows("anthropic"):
        batch = r["service_tier"] == "batch"
        tier = "" if r["service_tier"] in ("standard", "batch") else r["service_tier"]
        band = 200000 if r["context_window"] == "200k-1M" else 0
        price = catalog.resolve("anthropic", r["model"], datetime.fromtimestamp(hour, UTC).date(), tier, batch, band)
        writes = r["cache_creation"]["ephemeral_5m_input_tokens"] + r["cache_creation"]["ephemeral_1h_input_tokens"]
        total += price.cost(
            {
                "input_tokens": r["uncached_input_tokens"] + r["cache_read_input_tokens"] + writes,
                "cached_input_tokens": r["cache_read_input_tokens"],
                "cache_write_tokens": writes,
                "cache_write_1h_tokens": r["cache_creation"]["ephemeral_1h_input_tokens"],
                "output_tokens": r["output_tokens"],
                "web_search_calls": r["server_tool_use"]["web_search_requests"],
            }
        )
    return total.quantize(Decimal("0.000001"))


def test_source_add_list_disable_enable(cli, monkeypatch):
    setup_org(cli)
    code, out, err = cli("source", "add", "--org", "org-cli", "--provider", "openai", "--key-env", "OPENAI_ADMIN_KEY")
    assert code == 0, err
    assert out.strip() == "added source org-cli-openai (openai, https://api.openai.com/v1, key from $OPENAI_ADMIN_KEY)"
    assert "OPENAI_ADMIN_KEY is not set yet" in err
    code, out, _ = cli(
        "source",
        "add",
        "--org",
        "org-cli",
        "--provider",
        "anthropic",
        "--key-env",
        "ANTHROPIC_ADMIN_KEY",
        "--name",
        "claude",
    )
    assert "https://api.anthropic.com/v1" in out
    code, out, _ = cli("source", "list", "--org", "org-cli")
    assert [line.split("\t")[:5] for line in out.strip().splitlines()] == [
        ["claude", "org-cli", "anthropic", "enabled", "ANTHROPIC_ADMIN_KEY"],
        ["org-cli-openai", "org-cli", "openai", "enabled", "OPENAI_ADMIN_KEY"],
    ]
    assert cli("source", "disable", "claude")[1].strip() == "disabled claude"
    assert "\tdisabled\t" in cli("source", "list")[1].splitlines()[0]
    assert cli("source", "enable", "claude")[0] == 0
    assert rows("SELECT action, entity FROM audit_log WHERE action LIKE 'source.%' ORDER BY id") == [
        ("source.add", "org-cli-openai"),
        ("source.add", "claude"),
        ("source.disable", "claude"),
        ("source.enable", "claude"),
    ]


def test_source_add_rejects_bad_input_without_echoing_a_key(cli):
    setup_org(cli)
    key = "sk-admin-abcdefghijklmnop1234"
    code, _, err = cli("source", "add", "--org", "org-cli", "--provider", "openai", "--key-env", key)
    assert code == 2 and "NAME of an environment variable" in err and key not in err
    code, _, err = cli("source", "add", "--org", "org-cli", "--provider", "gemini", "--key-env", "K")
    assert code == 2 and "provider 'gemini' must be one of openai, anthropic" in err
    code, _, err = cli("source", "add", "--org", "nope", "--provider", "openai", "--key-env", "K")
    assert code == 2 and "organization 'nope' does not exist" in err
    code, _, err = cli(
        "source", "add", "--org", "org-cli", "--provider", "openai", "--key-env", "K", "--base-url", "ftp://x"
    )
    assert code == 2 and "base-url 'ftp://x' must be an http(s) URL" in err
    assert cli("source", "add", "--org", "org-cli", "--provider", "openai", "--key-env", "OPENAI_ADMIN_KEY")[0] == 0
    code, _, err = cli("source", "add", "--org", "org-cli", "--provider", "openai", "--key-env", "OPENAI_ADMIN_KEY")
    assert code == 2 and "already exists" in err
    assert cli("source", "disable", "ghost") == (
        2,
        "",
        "error: no source named 'ghost' (see `spendsight source list`)\n",
    )
    assert rows("SELECT COUNT(*) FROM source")[0][0] == 1


def test_collect_then_report_equals_the_servers_buckets_under_faults(cli, provider):
    provider.faults = Faults(seed=11, rate=0.4, kinds=("429", "500", "truncated", "badjson", "reset", "shape"))
    setup_org(cli)
    code, _, err = cli(
        "source",
        "add",
        "--org",
        "org-cli",
        "--provider",
        "openai",
        "--key-env",
        "OPENAI_ADMIN_KEY",
        "--base-url",
        provider.base_url,
    )
    assert code == 0, err
    cli(
        "source",
        "add",
        "--org",
        "org-cli",
        "--provider",
        "anthropic",
        "--key-env",
        "ANTHROPIC_ADMIN_KEY",
        "--base-url",
        provider.base_url,
    )
    code, out, err = cli("collect")
    assert code == 0, out + err
    lines = out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == (
        ["org-cli-anthropic messages", "org-cli-anthropic costs"]
        + [f"org-cli-openai {kind}" for kind in OPENAI_USAGE]
        + ["org-cli-openai costs"]
    )
    assert all(" windows=2 " in line for line in lines if "costs" not in line)
    assert sum(provider.faults.injected.values()) >= 6 and len(provider.faults.injected) >= 4
    total = report_total(cli, "org-cli", provider)
    expected = expected_openai_totals(provider)
    truth = provider.truth_anthropic()
    expected["input_tokens"] += (
        truth["uncached_input_tokens"]
        + truth["cache_read_input_tokens"]
        + truth["ephemeral_5m_input_tokens"]
        + truth["ephemeral_1h_input_tokens"]
    )
    expected["cached_input_tokens"] += truth["cache_read_input_tokens"]
    expected["output_tokens"] += truth["output_tokens"]
    assert {k: total[k] for k in expected} == expected
    assert total["cost_usd"] > 0


def test_collected_anthropic_usage_is_priced_like_the_servers_buckets(cli, provider):
    setup_org(cli)
    cli(
        "source",
        "add",
        "--org",
        "org-cli",
        "--provider",
        "anthropic",
        "--key-env",
        "ANTHROPIC_ADMIN_KEY",
        "--base-url",
        provider.base_url,
    )
    code, out, err = cli("collect", "--org", "org-cli", "--source", "org-cli-anthropic")
    assert code == 0, err
    assert Decimal(str(report_total(cli, "org-cli", provider)["cost_usd"])) == anthropic_cost(provider)


def test_report_billed_puts_estimate_and_bill_side_by_side(cli, provider):
    setup_org(cli)
    cli(
        "source",
        "add",
        "--org",
        "org-cli",
        "--provider",
        "openai",
        "--key-env",
        "OPENAI_ADMIN_KEY",
        "--base-url",
        provider.base_url,
    )
    assert cli("collect")[0] == 0
    start = provider.data_start.date().isoformat()
    end = (provider.data_end + timedelta(days=1)).date().isoformat()
    code, out, err = cli("report", "--org", "org-cli", "--start", start, "--end", end, "--billed")
    assert code == 0, err
    table = list(csv.DictReader(io.StringIO(out)))
    assert out.splitlines()[0] == "day,provider,project,estimated_usd,billed_usd,drift_pct"
    assert sum(Decimal(r["billed_usd"]) for r in table) == provider.truth_billed("openai")
    estimated = sum(Decimal(r["estimated_usd"]) for r in table)  # each row rounded to the micro-dollar
    assert abs(estimated - Decimal(str(report_total(cli, "org-cli", provider)["cost_usd"]))) <= len(table) * Decimal(
        "0.0000005"
    )
    row = next(r for r in table if Decimal(r["billed_usd"]) and r["project"] == "proj_a")
    est, billed = Decimal(row["estimated_usd"]), Decimal(row["billed_usd"])
    assert Decimal(row["drift_pct"]) == ((est - billed) / billed * 100).quantize(Decimal("0.01"))
    assert all(r["drift_pct"] == "" for r in table if not Decimal(r["billed_usd"]))
    code, out, _ = cli("report", "--org", "org-cli", "--start", start, "--end", end, "--billed", "--format", "json")
    assert list(json.loads(out)[0]) == ["day", "provider", "project", "estimated_usd", "billed_usd", "drift_pct"]
    code, _, err = cli("report", "--org", "org-cli", "--start", start, "--end", end, "--billed", "--by", "model")
    assert code == 2 and "--by does not apply to --billed" in err


def test_collect_reports_failures_and_usage_errors(cli, provider, monkeypatch):
    setup_org(cli)
    code, _, err = cli("collect")
    assert code == 2 and "no enabled sources" in err
    cli(
        "source",
        "add",
        "--org",
        "org-cli",
        "--provider",
        "openai",
        "--key-env",
        "OPENAI_ADMIN_KEY",
        "--base-url",
        provider.base_url,
    )
    assert cli("collect", "--since", "2026-13-01")[2] == "error: --since '2026-13-01': expected a date YYYY-MM-DD\n"
    assert "no such source" in cli("collect", "--source", "ghost")[2]
    monkeypatch.setenv("SPENDSIGHT_RETRY_ATTEMPTS", "2")
    provider.outages.append(lambda path, q: 500 if path.endswith("/costs") else None)
    code, out, err = cli("collect")
    assert code == 1
    assert "org-cli-openai costs: windows=0 buckets=0 rows=0 until=- error: costs " in out
    assert "HTTP 500; gave up after 2 attempts" in out
    assert "org-cli-openai completions: windows=2" in out  # the other endpoints went on


def test_two_collects_at_once_write_each_bucket_once(cli, provider):
    setup_org(cli)
    cli(
        "source",
        "add",
        "--org",
        "org-cli",
        "--provider",
        "openai",
        "--key-env",
        "OPENAI_ADMIN_KEY",
        "--base-url",
        provider.base_url,
    )
    command = [sys.executable, "-c", "from cli import app; app()", "collect"]
    procs = [
        subprocess.Popen(
            command, cwd=REPO, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    duplicates = rows(
        "SELECT kind, bucket_start, project_id, api_key_id, user_id, model, service_tier, batch, "
        "COUNT(*) FROM usage GROUP BY kind, bucket_start, project_id, api_key_id, user_id, model, "
        "service_tier, batch HAVING COUNT(*) > 1"
    )
    assert duplicates == []
    assert {
        k: v
        for k, v in report_total(cli, "org-cli", provider).items()
        if k in ("requests", "input_tokens", "cached_input_tokens", "output_tokens")
    } == expected_openai_totals(provider)
    assert rows("SELECT SUM(amount_micros) FROM billed_cost")[0][0] == int(provider.truth_billed("openai") * 1_000_000)
