"""`spendsight fx` and `statement`: strict input (exit 2, no traceback), dated rates, closing months."""

from tests.factories import make_org


def test_fx_and_statement_commands(cli):
    make_org("org-s", "S", owners=("owner@example.com",))
    code, out, _ = cli("fx", "set", "--currency", "CNY", "--rate", "7.10", "--since", "2026-10-01")
    assert code == 0 and "7.10 CNY/USD since 2026-10-01" in out
    for bad in (["--rate", "7,10", "--since", "2026-10-01"], ["--rate", "7.1", "--since", "10/01/2026"]):
        code, _, err = cli("fx", "set", "--currency", "CNY", *bad)
        assert code == 2 and "error:" in err and "Traceback" not in err
    assert cli("fx", "set", "--currency", "XYZ", "--rate", "1", "--since", "2026-10-01")[0] == 2
    assert "2026-10-01\t7.10" in cli("fx", "list")[1]
    code, out, _ = cli("statement", "close", "--org", "org-s", "--month", "2026-10")
    assert code == 0 and "closed org-s 2026-10" in out and "$0.00" in out
    assert "already closed" in cli("statement", "close", "--org", "org-s", "--month", "2026-10")[1]
    assert cli("statement", "close", "--org", "org-s", "--month", "2026-13")[0] == 2
    assert cli("statement", "close", "--org", "org-s", "--month", "2999-01")[0] == 2
    assert "unchanged" in cli("statement", "restate", "--org", "org-s", "--month", "2026-10")[1]
    assert cli("statement", "restate", "--org", "org-s", "--month", "2026-09")[0] == 2
    assert "closed" in cli("statement", "history", "--org", "org-s", "--month", "2026-10")[1]
    code, out, _ = cli("statement", "subscribe", "--org", "org-s", "--email", "owner@example.com", "--lang", "zh")
    assert code == 0 and "subscribed" in out
    assert cli("statement", "subscribe", "--org", "org-s", "--email", "nobody@example.com")[0] == 2
