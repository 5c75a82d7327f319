"""account_manage.yml creates real accounts people log in to over SSH, and removes every trace of them."""

import paramiko
import pytest

from bunkhouse.reservations.passwords import hash_password
from helpers.nodes import login_refused, node_sh, run_accounts, ssh_run


def test_account_lifecycle_login_then_removal(runner, pool):
    created = run_accounts(runner, pool, account_name="alice", account_password_hash=hash_password("Alice-pw-1"))
    assert created.ok, created.stdout_tail
    assert set(created.ok_hosts) == {node.name for node in pool}

    for node in pool:
        assert ssh_run(node, "alice", "id -un; hostname", password="Alice-pw-1").split() == ["alice", node.name]

    again = run_accounts(runner, pool, account_name="alice", account_password_hash=hash_password("Alice-pw-1"))
    assert again.ok
    # A new salt gives a new hash, so only the password may change; nothing else does.
    removed = run_accounts(runner, pool, account_name="alice", account_state="absent")
    assert removed.ok, removed.stdout_tail

    for node in pool:
        assert login_refused(node, "alice", "Alice-pw-1")
        assert node_sh(node, "getent passwd alice", check=False).returncode == 2
        assert node_sh(node, "test -e /home/alice", check=False).returncode == 1

    removed_again = run_accounts(runner, pool, account_name="alice", account_state="absent")
    assert removed_again.ok and removed_again.changed_hosts == ()


def test_creating_the_same_account_twice_changes_nothing(runner, pool):
    password_hash = hash_password("same-pw")
    first = run_accounts(runner, pool[:1], account_name="erin", account_password_hash=password_hash)
    second = run_accounts(runner, pool[:1], account_name="erin", account_password_hash=password_hash)
    assert first.ok and second.ok
    assert first.changed_hosts == (pool[0].name,)
    assert second.changed_hosts == ()
    assert run_accounts(runner, pool[:1], account_name="erin", account_state="absent").ok


def test_a_new_password_replaces_the_old_one(runner, pool):
    node = pool[0]
    assert run_accounts(runner, [node], account_name="frank", account_password_hash=hash_password("old-pw")).ok
    assert run_accounts(runner, [node], account_name="frank", account_password_hash=hash_password("new-pw")).ok
    assert login_refused(node, "frank", "old-pw")
    assert ssh_run(node, "frank", "id -un", password="new-pw").strip() == "frank"
    assert run_accounts(runner, [node], account_name="frank", account_state="absent").ok


def test_sudo_and_ssh_keys_are_given_and_taken_back(runner, pool):
    node = pool[1]
    key = paramiko.RSAKey.generate(2048)
    public_key = f"{key.get_name()} {key.get_base64()} test@bunkhouse"
    given = run_accounts(
        runner, [node], account_name="grace", account_password_hash=hash_password("grace-pw"),
        account_sudo=True, account_sudo_nopasswd=True, account_ssh_keys=[public_key],
    )
    assert given.ok, given.stdout_tail
    assert ssh_run(node, "grace", "sudo -n id -u", key=key).strip() == "0"

    taken = run_accounts(runner, [node], account_name="grace", account_password_hash=hash_password("grace-pw"))
    assert taken.ok, taken.stdout_tail
    assert node_sh(node, "test -e /etc/sudoers.d/bunkhouse-grace", check=False).returncode == 1
    with pytest.raises(paramiko.AuthenticationException):
        ssh_run(node, "grace", "true", key=key)
    sudo_check = "sudo -n true 2>/dev/null && echo allowed || echo refused"
    assert ssh_run(node, "grace", sudo_check, password="grace-pw").strip() == "refused"
    assert run_accounts(runner, [node], account_name="grace", account_state="absent").ok


def test_removal_ends_processes_and_deletes_everything_the_account_owned(runner, pool):
    node = pool[2]
    assert run_accounts(runner, [node], account_name="bob", account_password_hash=hash_password("bob-pw")).ok
    uid = node_sh(node, "id -u bob").stdout.strip()
    ssh_run(
        node, "bob",
        "nohup sleep 600 >/dev/null 2>&1 & echo x > /tmp/bob-tmp; mkdir -p /var/tmp/bobdir/deep;"
        " echo y > /var/tmp/bobdir/deep/f; echo z > /dev/shm/bob-shm; echo mail > /var/mail/bob 2>/dev/null; true",
        password="bob-pw",
    )
    # What bob could have made with cron and mail on a fuller node.
    node_sh(node, "mkdir -p /var/spool/cron/crontabs && echo '* * * * * true' > /var/spool/cron/crontabs/bob"
                  " && chown bob /var/spool/cron/crontabs/bob && touch /var/mail/bob && chown bob /var/mail/bob")
    assert node_sh(node, "pgrep -u bob sleep", check=False).returncode == 0

    removed = run_accounts(runner, [node], account_name="bob", account_state="absent")
    assert removed.ok, removed.stdout_tail

    assert node_sh(node, f"ps -eo uid= | grep -qx ' *{uid}'", check=False).returncode == 1
    leftovers = node_sh(node, f"find / /dev/shm -xdev -uid {uid} -print").stdout
    assert leftovers == ""
    for path in ["/tmp/bob-tmp", "/var/tmp/bobdir", "/dev/shm/bob-shm", "/var/mail/bob",
                 "/var/spool/cron/crontabs/bob", "/home/bob"]:
        assert node_sh(node, f"test -e {path}", check=False).returncode == 1, path

    # The next tenant gets the same uid: nothing of bob's may become theirs.
    assert run_accounts(runner, [node], account_name="carol", account_password_hash=hash_password("carol-pw")).ok
    assert node_sh(node, "id -u carol").stdout.strip() == uid
    assert node_sh(node, "find / /dev/shm -xdev -user carol -not -path '/home/carol*' -print").stdout == ""
    assert run_accounts(runner, [node], account_name="carol", account_state="absent").ok


def test_removal_finishes_a_removal_that_was_cut_short(runner, pool):
    node = pool[0]
    assert run_accounts(runner, [node], account_name="dave", account_password_hash=hash_password("dave-pw")).ok
    uid = node_sh(node, "id -u dave").stdout.strip()
    ssh_run(node, "dave", "nohup sleep 600 >/dev/null 2>&1 & echo x > /tmp/dave-file", password="dave-pw")
    # A removal that died after deleting the account but before the clean-up.
    node_sh(node, "userdel --force dave")
    assert node_sh(node, f"find /tmp -uid {uid}").stdout.strip() == "/tmp/dave-file"

    finished = run_accounts(runner, [node], account_name="dave", account_state="absent")
    assert finished.ok, finished.stdout_tail
    assert node_sh(node, f"find / /dev/shm -xdev -uid {uid} -print").stdout == ""
    assert node_sh(node, f"ps -eo uid= | grep -qx ' *{uid}'", check=False).returncode == 1
