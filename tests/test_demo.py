"""`spendsight demo` on every start (make run): it prints every demo sign-in, also when nothing is loaded."""

import tomllib

from demo import DEMO_MEMBERS, load_demo
from tests.conftest import REPO
from tests.factories import make_org


def test_demo_prints_every_login_when_the_database_already_has_data():
    make_org("org-x")
    text = load_demo()
    assert "already has data" in text
    for email, role in DEMO_MEMBERS:
        assert f"{role:<6} {email}  password: demo-{role}-pass" in text


def test_streamlit_toolbar_shows_no_deploy_button_or_developer_menu():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["client"]["toolbarMode"] == "viewer"
