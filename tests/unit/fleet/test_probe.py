"""The probe from inside a node, over a fake engine's exec (the real one runs in every
integration test of the monitor)."""

from __future__ import annotations

from bunkhouse.fleet.probe import PROBE_SCRIPT, Problem, probe_inside

KEYS = {"ED25519": "SHA256:right", "RSA": "SHA256:rsa"}


class Exec:
    def __init__(self, answer=None, error: Exception | None = None):
        self.answer, self.error, self.asked = answer, error, []

    def exec_read(self, name, script, timeout):
        self.asked.append((name, script))
        if self.error:
            raise self.error
        return self.answer


def test_the_recorded_key_offered_by_sshd_inside_passes():
    engine = Exec((0, "256 SHA256:right 127.0.0.1 (ED25519)\n"))
    assert probe_inside(engine, "node-1", KEYS) is None
    assert engine.asked == [("node-1", PROBE_SCRIPT)]


def test_another_key_means_another_node_and_is_not_an_sshd_failure():
    problem = probe_inside(Exec((0, "256 SHA256:other 127.0.0.1 (ED25519)\n")), "node-1", KEYS)
    assert problem is not None and not problem.sshd_only and "not the node's" in problem.reason


def test_silence_is_an_sshd_failure():
    assert probe_inside(Exec((1, "")), "node-1", KEYS) == Problem("sshd does not answer inside the node",
                                                                  sshd_only=True)


def test_an_exec_that_cannot_start_is_read_as_sshd_only_so_a_full_node_is_not_recreated_at_once():
    problem = probe_inside(Exec(error=OSError("OCI runtime exec failed: resource temporarily unavailable")),
                           "node-1", KEYS)
    assert problem.sshd_only and "docker exec into the node failed" in problem.reason


def test_no_recorded_key_cannot_pass():
    assert probe_inside(Exec((0, "256 SHA256:right 127.0.0.1 (ED25519)\n")), "node-1", {}).reason \
        == "no recorded host key to check"
