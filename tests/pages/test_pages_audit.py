"""Audit log page: rows read as sentences with the zone of their time; identical re-saves leave no row."""

import json
import re
from datetime import UTC, datetime, timedelta

from models.access.orgs import set_member_as
from models.access.roles import Actor
from models.budgets.limits import set_limit
from tests.factories import make_org
from tests.pageutil import run_page, texts
from ui.audit import audit_frame
from ui.safe import csv_bytes

OWNER = "owner@example.com"
AUDIT = "pages/11_Audit_log.py"


def test_audit_log_reads_as_sentences_and_skips_identical_resaves():
    make_org("org-a", owners=(OWNER,))
    actor = Actor(OWNER)
    set_limit(actor, "org-a", "search-rag", soft="3965", hard="5000")
    set_limit(actor, "org-a", "search-rag", soft="4200")
    set_limit(actor, "org-a", "search-rag", soft="4200")  # the same again: not a change
    set_member_as(actor, "org-a", "fin@example.com", "reader")
    set_member_as(actor, "org-a", "fin@example.com", "owner")
    at = run_page(AUDIT, user=OWNER)
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["What happened"]) == [
        "owner@example.com changed fin@example.com from reader to owner",
        "owner@example.com added fin@example.com as reader",
        "owner@example.com raised the soft limit of search-rag from $3,965 to $4,200",
        "owner@example.com set the soft limit of search-rag to $3,965; set the hard limit of search-rag to $5,000; "
        "set the alert thresholds of search-rag to 50%, 80%, 100%",
    ]
    assert len(table["When"]) == 4
    assert "4 changes" in texts(at)
    zh = run_page(AUDIT, user=OWNER, session={"lang": "zh"})
    assert "owner@example.com 将 search-rag 的软限额从 $3,965 提高到 $4,200" in list(
        zh.dataframe[0].value["发生了什么"]
    )


def test_audit_times_are_shown_in_the_orgs_zone_and_name_it():
    make_org("org-sh", timezone="Asia/Shanghai", owners=(OWNER,))
    before = datetime.now(UTC)
    set_limit(Actor(OWNER), "org-sh", "search-rag", soft="100")
    after = datetime.now(UTC)
    for lang, label, zoned in (("en", "When", "When (Asia/Shanghai)"), ("zh", "时间", "时间（Asia/Shanghai）")):
        at = run_page(AUDIT, user=OWNER, session={"lang": lang})
        assert not at.exception
        frame = at.dataframe[0]
        column = json.loads(frame.proto.columns)[label]
        assert column["label"] == zoned and column["type_config"]["timezone"] == "Asia/Shanghai"
        when = frame.value[label].iloc[0]
        # The change's own moment, as Shanghai's wall clock (UTC+8), not the UTC one.
        assert when.utcoffset() == timedelta(hours=8)
        assert before - timedelta(seconds=1) <= when.to_pydatetime() <= after + timedelta(seconds=1)
    # The export carries the same wall-clock time with its offset, to the second.
    exported = csv_bytes(audit_frame(OWNER, ("org-sh",), None, None, "", "en", "Asia/Shanghai")).decode()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+08:00", exported.splitlines()[1].split(",")[0])
