"""The UI text files (ui/locales/*.toml): both languages have the same keys and placeholders, every
text is one line of valid format text, every key is used, and the move out of Python lost nothing."""

import ast
import re
import string
import threading

import pytest

from alerts.strings import ALERTS
from gateway.signin import STRINGS
from models.locales import LocaleError, Strings
from tests.conftest import REPO
from ui import i18n
from ui.i18n import LANGUAGES, keys, missing, t


def test_every_string_has_a_chinese_translation_with_the_same_placeholders():
    english, chinese = keys("en"), keys("zh")
    assert len(english) > 400  # the files were found and read
    assert missing("zh") == []
    assert sorted(set(chinese) - set(english)) == []  # no Chinese-only (misspelt) keys
    for key, text in english.items():
        assert sorted(_fields(text)) == sorted(_fields(chinese[key])), key


def test_every_text_is_one_line_that_formats():
    """A line break inside a text is a backslash missing at the end of a line in the TOML file."""
    for lang_code in LANGUAGES:
        for key, text in keys(lang_code).items():
            assert text and text == text.strip(), f"{lang_code}.toml {key}: empty or padded with spaces"
            assert "\n" not in text, f"{lang_code}.toml {key}: line break (a missing backslash at the line end?)"
            _fields(text)  # raises on an unmatched { or }


def test_t_formats_in_the_session_language_and_falls_back_to_english():
    assert t("explore.title") == "Spend explorer"  # outside a Streamlit session: English
    assert t("explore.split", grain="day") == "Split the table by day"
    assert t("no.such.key") == "no.such.key"
    strings = i18n.strings()
    assert strings["zh"]["explore.title"] == "支出分析"
    assert strings is i18n.strings()  # read once


def test_the_files_are_read_once_when_many_sessions_start_together(monkeypatch):
    fresh = Strings(i18n.STRINGS.folder, "ui/locales")
    reads, load = [], fresh.load
    monkeypatch.setattr(fresh, "load", lambda code: reads.append(code) or load(code))
    barrier = threading.Barrier(8)
    results = []

    def session():
        barrier.wait()
        results.append(fresh.tables())

    threads = [threading.Thread(target=session) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(reads) == sorted(LANGUAGES)
    assert len(results) == 8 and all(r is results[0] for r in results)


def test_a_broken_locale_file_names_the_file_line_and_key(tmp_path):
    broken = Strings(tmp_path, "ui/locales")
    (tmp_path / "zh.toml").write_text('[explore]\ntitle = "支出分析"\nhelp = "unclosed\n', encoding="utf-8")
    with pytest.raises(LocaleError, match=r"ui/locales/zh\.toml: .*line 3"):
        broken.load("zh")
    (tmp_path / "zh.toml").write_text("[explore]\ntitle = 3\n", encoding="utf-8")
    with pytest.raises(LocaleError, match=r"ui/locales/zh\.toml: explore\.title: expected text"):
        broken.load("zh")


def test_language_sets_the_text_of_a_block_outside_a_session():
    with i18n.language("zh"):
        assert t("explore.title") == "支出分析"
    assert t("explore.title") == "Spend explorer"


def test_the_dashboard_and_the_emails_share_one_loader():
    assert type(i18n.STRINGS) is type(ALERTS) is type(STRINGS) is Strings


def test_every_key_is_used():
    """A key counts as used when the UI code holds it as a literal ("explore.title") or builds it in a
    way that can produce it (f"explore.preset.{p}", "role." + r, f"{area}.title"). So a used key is
    never reported; an unused one inside an area the code reaches that way can go unnoticed. Build
    keys with f-strings or +, so this test can see them."""
    files = [REPO / "app.py", *(REPO / "pages").glob("*.py"), *(REPO / "ui").rglob("*.py")]
    literals, patterns = set(), []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                literals.add(node.value)
            elif isinstance(node, (ast.JoinedStr, ast.BinOp)) and (pattern := _pattern(node)) and "\\." in pattern:
                patterns.append(re.compile(pattern))
    assert "explore.title" in literals and any(p.fullmatch("explore.preset.custom") for p in patterns)
    unused = [k for k in keys("en") if k not in literals and not any(p.fullmatch(k) for p in patterns)]
    assert unused == [], "no code uses these keys: remove them from en.toml and zh.toml"


def _pattern(node) -> str | None:
    """A regular expression for the strings an f-string or a `+` of strings can produce."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return re.escape(node.value)
    if isinstance(node, ast.JoinedStr):
        return "".join(re.escape(v.value) if isinstance(v, ast.Constant) else ".+" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _pattern(node.left), _pattern(node.right)
        return None if left is None and right is None else (left or ".+") + (right or ".+")
    return None


def _fields(text):
    return [name for _, name, _, _ in string.Formatter().parse(text) if name]
