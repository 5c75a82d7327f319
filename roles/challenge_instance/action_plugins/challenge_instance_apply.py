"""challenge_instance_apply: one team's instance of a challenge brought to its state (started,
recreated, stopped or absent) with calls to the engine's API from the controller, in the
Ansible worker that runs the task: no module process is started.

Why not community.docker's modules, which this role used at first: each of them is a Python
process per container and step (create, copy the flag, copy the team, start, the health
check), about 0.7 s of CPU each; on two cores, 20 instances took 45 s, almost all of it module
start-up (measured with ansible.posix.profile_tasks). The same calls made here take the engine's
own time: a deploy of 50 teams is bounded by Docker, not by Python start-ups. The client is the
Docker SDK (`docker`, the library community.docker's own Molecule driver and inventory use);
the networks of tasks/network.yml stay community.docker's.

started: the container made when missing (every limit of the role's inputs), the flag and the
team's id put in it as root's read-only files before it starts, started, and its health check
passed (HTTP 200 on the path at the container's own address, or a TCP connect to its first
port) within start_timeout. An existing container is left as it is (its flag put again).
recreated: removed first, then started. stopped: stopped if there, kept. absent: removed if there.
The result never holds the flag or the environment (the task is no_log too).
"""

from __future__ import annotations

import http.client
import io
import socket
import tarfile
import time
import urllib.error
import urllib.request

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

STATES = ("started", "recreated", "stopped", "absent")
# Seconds one call to the engine may take (a create, a start, an image read).
API_TIMEOUT = 60


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset((
        "name", "state", "image", "network", "ports", "bind_address", "environment", "flag", "flag_path", "team",
        "team_path", "cpus", "memory", "cpu_shares", "memory_reservation", "pids_limit", "health_path",
        "start_timeout", "labels", "docker_host"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        if args.get("state") not in STATES:
            raise AnsibleActionFail(f"state must be one of {', '.join(STATES)}")
        if not args.get("name"):
            raise AnsibleActionFail("name must be the container's name")
        if self._task.check_mode:
            result["skipped"] = True
            return result
        import docker  # here, not at the top: a playbook that never runs this task needs no SDK

        client = None
        try:
            # TLS as the Docker CLI and community.docker take it (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH).
            settings = {**docker.utils.kwargs_from_env(),
                        "base_url": args.get("docker_host") or "unix:///var/run/docker.sock"}
            client = docker.APIClient(version="auto", timeout=API_TIMEOUT, **settings)
            result.update(Instance(client, args).apply())
        except docker.errors.APIError as error:
            result.update(failed=True, msg=f"the engine said: {error.explanation or error}")
        except docker.errors.DockerException as error:  # the engine could not be reached
            result.update(failed=True, msg=f"the engine could not be reached: {error}")
        except (TimeoutError, OSError, ValueError) as error:
            result.update(failed=True, msg=str(error))
        finally:
            if client is not None:
                client.close()
        return result


class Instance:
    """The calls for one instance; apply() answers the task's result (changed, msg)."""

    def __init__(self, client, args: dict):
        self.client = client
        self.args = args
        self.name = args["name"]

    def apply(self) -> dict:
        state = self.args["state"]
        found = self._inspect()
        if state == "absent" or state == "recreated":
            if found is not None:
                self.client.remove_container(self.name, force=True)
            if state == "absent":
                return {"changed": found is not None, "msg": "removed" if found else "not there"}
            found = None
        if state == "stopped":
            running = found is not None and found["State"]["Running"]
            if running:
                self.client.stop(self.name, timeout=10)
            return {"changed": running, "msg": "stopped" if found else "not there"}
        made = found is None
        if made:
            self._create()
        self._put_files()
        if made or not found["State"]["Running"]:
            self.client.start(self.name)
        self._wait_healthy()
        return {"changed": made or not found["State"]["Running"], "msg": "running, its health check passed"}

    def _inspect(self) -> dict | None:
        import docker

        try:
            return self.client.inspect_container(self.name)
        except docker.errors.NotFound:
            return None

    def _create(self) -> None:
        args, client = self.args, self.client
        ports = [(int(port["container"]), int(port["host"])) for port in args.get("ports") or []]
        memory = int(args.get("memory") or 268435456)
        host_config = client.create_host_config(
            port_bindings={container: (args.get("bind_address") or "127.0.0.1", host) for container, host in ports},
            network_mode=args["network"], nano_cpus=int(float(args.get("cpus") or 0.5) * 1e9),
            cpu_shares=int(args.get("cpu_shares") or 0) or None, mem_limit=memory, memswap_limit=memory,
            mem_reservation=int(args.get("memory_reservation") or 0) or None,
            pids_limit=int(args.get("pids_limit") or 128), tmpfs={"/tmp": "size=64m,mode=1777,nosuid,nodev"},
            cap_drop=["ALL"], security_opt=["no-new-privileges:true"], restart_policy={"Name": "unless-stopped"})
        labels = {**{str(key): str(value) for key, value in (args.get("labels") or {}).items()},
                  "bunkhouse.challenge_instance": "true"}
        self._ensure_image(args["image"])
        client.create_container(args["image"], name=self.name, host_config=host_config,
                                ports=[container for container, _ in ports], labels=labels,
                                environment={str(key): str(value) for key, value in
                                             (args.get("environment") or {}).items()},
                                networking_config=client.create_networking_config(
                                    {args["network"]: client.create_endpoint_config()}))

    def _ensure_image(self, image: str) -> None:
        """Pulled when the engine lacks it, as community.docker's docker_container did (an
        allow-list entry without a build folder names an image of a registry)."""
        import docker

        try:
            self.client.inspect_image(image)
        except docker.errors.ImageNotFound:
            self.client.pull(image)

    def _put_files(self) -> None:
        """The flag and the team's id as root's files, mode 0444, in one archive (the container
        may be stopped: the engine writes into its filesystem)."""
        files = {self.args.get("flag_path") or "/flag.txt": self.args.get("flag") or "",
                 self.args.get("team_path") or "/team.txt": self.args.get("team") or ""}
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            for path, content in files.items():
                if not content:
                    continue
                data = f"{content}\n".encode()
                info = tarfile.TarInfo(path.lstrip("/"))
                info.size, info.mode, info.uid, info.gid, info.mtime = len(data), 0o444, 0, 0, int(time.time())
                tar.addfile(info, io.BytesIO(data))
        if archive.tell():
            self.client.put_archive(self.name, "/", archive.getvalue())

    def _wait_healthy(self) -> None:
        ports = self.args.get("ports") or []
        if not ports:
            return
        timeout = int(self.args.get("start_timeout") or 120)
        networks = self.client.inspect_container(self.name)["NetworkSettings"]["Networks"]
        address = (networks.get(self.args["network"]) or {}).get("IPAddress")
        if not address:
            raise ValueError(f"{self.name} has no address on {self.args['network']}")
        port, path = int(ports[0]["container"]), self.args.get("health_path") or ""
        deadline = time.monotonic() + timeout
        while True:
            if _answers(address, port, path):
                return
            if time.monotonic() >= deadline:
                asked = f"http://{address}:{port}{path}" if path else f"{address}:{port}"
                raise TimeoutError(f"{self.name} did not pass its health check ({asked}) within {timeout} s")
            state = self.client.inspect_container(self.name)["State"]
            if not state["Running"] and not state.get("Restarting"):
                raise ValueError(f"{self.name} exited (code {state.get('ExitCode')}) before its health check passed")
            time.sleep(0.25)


# No proxy of the environment: the address is the container's own, on this engine's network.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _answers(address: str, port: int, path: str) -> bool:
    """HTTP 200 on the path, or (no path) a TCP connect; the container's own address, not its
    published port (Docker's proxy takes connections before the app listens)."""
    if not path:
        try:
            with socket.create_connection((address, port), timeout=2):
                return True
        except OSError:
            return False
    try:
        with _DIRECT.open(f"http://{address}:{port}{path}", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError):
        return False
