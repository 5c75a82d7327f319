"""A hostile account name changes nothing: not another variable of the run, not the node, not
the controller. Variables travel as a dict in a file, each string tagged !unsafe."""

import os

import pytest

from bunkhouse.reservations.passwords import hash_password
from helpers.nodes import login_refused, node_sh, run_accounts, ssh_run

HOSTILE_NAMES = [
    "victim account_state=absent",
    "victim\naccount_state: absent",
    'victim" account_state="absent',
    "x; touch /tmp/pwned",
    "$(touch /tmp/pwned)",
    "`touch /tmp/pwned`",
    "x && touch /tmp/pwned",
    "{{ lookup('pipe', 'touch /tmp/pwned') }}",
    "{% for x in [1] %}pwned{% endfor %}",
    "../../etc/passwd",
    "Victim",
    "vïctim",
    "-victim",
    "a" * 33,
    "",
]


@pytest.fixture(scope="module")
def victim(runner, pool):
    node = pool[0]
    result = run_accounts(runner, [node], account_name="victim", account_password_hash=hash_password("victim-pw"))
    assert result.ok, result.stdout_tail
    yield node
    run_accounts(runner, [node], account_name="victim", account_state="absent")


def _accounts(node):
    return node_sh(node, "getent passwd; ls -A /home /etc/sudoers.d").stdout


@pytest.mark.parametrize("state", ["present", "absent"])
@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=repr)
def test_hostile_name_is_refused_and_changes_nothing(runner, victim, name, state):
    before = _accounts(victim)
    result = run_accounts(
        runner, [victim], account_name=name, account_state=state, account_password_hash=hash_password("pw")
    )
    assert not result.ok
    assert result.failed_hosts == (victim.name,) or result.rc != 0
    assert _accounts(victim) == before
    assert node_sh(victim, "test -e /tmp/pwned", check=False).returncode == 1
    assert not os.path.exists("/tmp/pwned")
    assert ssh_run(victim, "victim", "id -un", password="victim-pw").strip() == "victim"


@pytest.mark.parametrize("name", ["root", "daemon", "sshd", "nobody", "www-data"])
def test_system_accounts_are_never_removed_or_changed(runner, victim, name):
    before = _accounts(victim)
    removal = run_accounts(runner, [victim], account_name=name, account_state="absent")
    change = run_accounts(runner, [victim], account_name=name, account_password_hash=hash_password("pw"))
    assert not removal.ok and not change.ok
    assert "is an account of the node image" in removal.stdout_tail
    assert _accounts(victim) == before
    assert node_sh(victim, "getent shadow root").stdout.split(":")[1].startswith(("!", "*"))


def test_a_bad_password_hash_is_refused(runner, victim):
    result = run_accounts(runner, [victim], account_name="mallory", account_password_hash="plaintext-password")
    assert not result.ok
    assert node_sh(victim, "getent passwd mallory", check=False).returncode == 2
    assert login_refused(victim, "mallory", "plaintext-password")
