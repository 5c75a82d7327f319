"""The probe of one SSH node: does its sshd answer with the host key recorded for it?
Read-only (every change on a node is Ansible's): the monitor (monitor.py) acts on the answers."""

from __future__ import annotations

import base64
import hashlib
import socket

import paramiko

# paramiko's key names -> the key types ssh-keygen prints (what EngineClient.host_keys stores).
_KEY_TYPES = {
    "ssh-ed25519": "ED25519",
    "ecdsa-sha2-nistp256": "ECDSA",
    "ssh-rsa": "RSA",
    "rsa-sha2-512": "RSA",
    "rsa-sha2-256": "RSA",
}
_PREFERRED = ["ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512"]


def fingerprint(key: paramiko.PKey) -> str:
    """The SHA256 fingerprint as ssh prints it: SHA256:<base64 without padding>."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


def ssh_probe(host: str, port: int, expected: dict[str, str], timeout: float = 5.0) -> str | None:
    """None when sshd at host:port answers with one of the expected host keys, else what is wrong.

    Only the key exchange runs (no login): it proves sshd is up and is the node we know, since
    a recreated or impostor node has other host keys.
    """
    wanted = [name for name in _PREFERRED if _KEY_TYPES[name] in expected]
    if not wanted:
        return "no recorded host key to check"
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as error:
        return f"ssh port {port} does not answer: {error.strerror or error}"
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = timeout
        transport.handshake_timeout = timeout
        transport.get_security_options().key_types = wanted
        transport.start_client(timeout=timeout)
        key = transport.get_remote_server_key()
    except (paramiko.SSHException, OSError, EOFError) as error:
        return f"sshd on port {port} failed the key exchange: {error}"
    finally:
        transport.close()
    key_type = _KEY_TYPES.get(key.get_name())
    if key_type is None or expected.get(key_type) != fingerprint(key):
        return f"sshd on port {port} answered with an unexpected {key.get_name()} host key"
    return None
