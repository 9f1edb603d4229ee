"""What every process pays just for starting: importing the table modules must stay light."""

import subprocess
import sys

from models.access import auth
from tests.conftest import REPO

# VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over fork and exec, so a child of a big
# pytest process reported the parent's ~440 MB; VmHWM belongs to the new address space alone.
PEAK = "print(int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0]) // 1024)"


def test_loading_the_tables_runs_no_password_hashing():
    """Every process (ingest and its parsers, worker, CLI, dashboard) imports all table modules; an
    argon2 hash made at import took 64 MiB on top of ~60 MiB, in each of them."""
    code = f"import models.tables; {PEAK}"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert int(out.stdout) < 100, f"peak RSS {out.stdout.strip()} MB"


def test_an_unknown_email_is_checked_against_a_hash_as_costly_as_a_real_one():
    result = auth.authenticate("nobody@example.com", "some-password-123")
    assert result.error == auth.WRONG_CREDENTIALS and result.token is None
    dummy = auth._dummy_hash
    assert dummy is not None and dummy.startswith("$argon2id$")
    assert not auth._hasher.check_needs_rehash(dummy)  # the same parameters as stored passwords
