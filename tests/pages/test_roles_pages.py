"""Every page, as a reader and as an owner: no other org's data, no change made by a reader, no crash.

New pages are picked up automatically from pages/. A reader clicks every button a page shows them
and the database must be unchanged; a member of one org forges the org in session state and must
still see nothing of the other org.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

from models.access.roles import Actor
from models.budgets.credits import add_credit
from models.budgets.limits import set_limit
from models.db import get_engine
from models.pricing.edit import set_override
from tests.conftest import REPO
from tests.factories import add_usage, make_org, usage
from tests.pageutil import run_page, texts

PAGES = ["app.py"] + sorted(f"pages/{p.name}" for p in (REPO / "pages").glob("*.py"))
CANARY = "CANARYB"  # appears in org B's name, project, model and key: never on A's members' screens
# Tables that change just because someone signed in or looked: not data.
VOLATILE = {"user_session", "signin_failure"}
NON_EDIT_BUTTONS = {"Sign out"}
# Buttons a reader may see: creating a new organization (whose owner they become) changes no existing org.
READER_BUTTONS = {"Create"}


def seed(evil: bool = False) -> None:
    """Org A (owner, reader) and org B (another owner, canary everywhere); evil: A's texts carry markdown."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    make_org(
        "org-a",
        name="Alpha Org" if not evil else f"Alpha {EVIL}",
        owners=("owner@example.com",),
        readers=("reader@example.com",),
    )
    make_org("org-b", name=f"Bravo {CANARY} Org", owners=("bob@example.com",))
    rows = []
    for days in (1, 3, 10, 40):
        at = now - timedelta(days=days)
        rows.append(usage("org-a", at, model="gpt-4o", project_id="web", input_tokens=200_000, output_tokens=20_000))
        rows.append(
            usage(
                "org-b",
                at,
                model=f"gpt-{CANARY.lower()}",
                project_id=f"proj-{CANARY}",
                api_key_id=f"key-{CANARY}",
                user_id=f"user-{CANARY}",
                input_tokens=300_000,
            )
        )
        if evil:
            rows.append(
                usage(
                    "org-a", at, model=EVIL[:60], project_id=EVIL, api_key_id=EVIL, user_id=EVIL, input_tokens=100_000
                )
            )
            rows.append(usage("org-a", at, model="gpt-4o-mini", project_id=FORMULA, input_tokens=50_000))
    add_usage(*rows)
    if evil:
        seed_evil_settings("org-a")


def snapshot() -> dict[str, list[tuple]]:
    """Every row of every data table, to compare before and after a reader's attempts."""
    out = {}
    with get_engine().connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            if table.name in VOLATILE:
                continue
            out[table.name] = sorted(map(tuple, conn.execute(text(f'SELECT * FROM "{table.name}"'))), key=repr)
    return out


def screen(at) -> str:
    """What a page shows: text, tables, metrics, chart data and widget options."""
    parts = [texts(at)]
    parts += [d.value.to_csv() for d in at.dataframe]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    for kind in ("selectbox", "multiselect", "radio"):
        for widget in getattr(at, kind):
            parts.append(" ".join(str(o) for o in widget.options))  # AppTest holds the shown labels
    parts += [str(c.proto) for c in at.get("plotly_chart")]
    return "\n".join(parts)


def edit_buttons(at) -> list[str]:
    return [b.label for b in at.button if b.label not in NON_EDIT_BUTTONS]


@pytest.mark.parametrize("page", PAGES)
def test_owner_page_renders_and_escapes_what_members_typed(page, downloads):
    """Owner view, with org B's canary around and markdown-laden names, notes and labels in org A;
    exports keep HTML escaped and formulas neutralized."""
    seed(evil=True)
    at = run_page(page, user="owner@example.com", session={"org_id": "org-a"})
    assert not at.exception, f"{page}: {at.exception}"
    assert CANARY not in screen(at)
    html_exports = 0
    for data in downloads:
        text_ = data.decode("utf-8", "replace")
        if "<html" in text_[:500].lower():  # CSV and JSON keep names literally; HTML must escape them
            html_exports += 1
            assert "<b>tag</b>" not in text_ and "&lt;b&gt;tag" in text_, f"{page}: HTML export does not escape names"
    if "Statement" in page:
        assert html_exports, "the statement page offers its printable HTML"
        assert not any(cell.startswith(FORMULA) for line in text_.splitlines() for cell in line.split(",")), (
            f"{page}: an export holds a spreadsheet formula from a name"
        )
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success"):
        for element in getattr(at, kind):
            for raw in RAW_MARKUP:
                assert raw not in str(element.value), f"{page}: {kind} renders user text as markdown: {element.value!r}"


@pytest.mark.parametrize("page", PAGES)
def test_reader_changes_nothing_and_cannot_reach_another_org(page):
    seed()
    before = snapshot()
    at = run_page(page, user="reader@example.com")
    assert not at.exception, f"{page}: {at.exception}"
    assert set(edit_buttons(at)) <= READER_BUTTONS, f"{page}: a reader sees edit controls {edit_buttons(at)}"
    assert not at.get("data_editor"), f"{page}: a reader sees an editable table"
    # Every widget that holds an org id, to forge afterwards.
    forged = {"org_id": "org-b", "org_picker": "org-b"}
    for kind in ("selectbox", "multiselect", "radio"):
        for widget in getattr(at, kind):
            value = at.session_state[widget.key] if widget.key and widget.key in at.session_state else None
            if value == "org-a":
                forged[widget.key] = "org-b"
            elif isinstance(value, list) and "org-a" in value:
                forged[widget.key] = ["org-b"]
    # Click everything a reader is shown: the database must not change.
    clicked = set()
    while True:
        pending = [b for b in at.button if b.label not in NON_EDIT_BUTTONS and (b.key, b.label) not in clicked]
        if not pending:
            break
        button = pending[0]
        clicked.add((button.key, button.label))
        button.click()
        at.run()
        assert not at.exception, f"{page}: clicking {button.label!r}: {at.exception}"
    assert snapshot() == before, f"{page}: a reader's clicks changed the database"
    # Forge org B into the session state: still nothing of org B on screen.
    at = run_page(page, user="reader@example.com", session=forged)
    assert CANARY not in screen(at), f"{page} showed org B's data to a member of org A only"


@pytest.mark.parametrize("page", PAGES)
def test_signed_out_visitor_sees_the_form_on_every_page(page):
    seed()
    at = run_page(page, user=None)
    assert not at.exception
    assert "Sign in to Spendsight" in texts(at)
    assert CANARY not in screen(at) and "Alpha Org" not in screen(at)


def test_the_canary_is_visible_to_org_bs_own_member():
    """The cross-org checks above can fail: org B's data does show up on B's member's screen."""
    seed()
    assert CANARY in screen(run_page("app.py", user="bob@example.com"))
    explorer = REPO / "pages" / "1_Spend_explorer.py"
    if explorer.exists():
        assert CANARY in screen(run_page("pages/1_Spend_explorer.py", user="bob@example.com"))


def seed_evil_settings(org_id: str) -> None:
    """Other text owners type, each through its service: a project limit, a credit note, a price note."""
    cli = Actor.cli()
    set_limit(cli, org_id, EVIL, soft="10", hard="20")
    add_credit(cli, org_id, "5", datetime.now(UTC).date() + timedelta(days=30), note=EVIL)
    set_override(cli, "openai", EVIL[:60], {"input_mtok": "1", "output_mtok": "2"}, note=EVIL)


EVIL = "Evil **bold** [click](http://evil.example) :red[alarm] $x^2$ <b>tag</b>"
FORMULA = "=1+2"
RAW_MARKUP = ("[click](http://evil.example)", "**bold**", ":red[alarm]", "$x^2$")
