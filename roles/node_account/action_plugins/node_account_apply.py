"""node_account_apply: run files/node-account.sh in a node with one `docker exec`, its secrets
(the password hash, the SSH keys: stdin_lines) on the script's standard input, never on a command line.

The raw module can only pass values as words of the command, and a command's words are visible
to every process of the node and of the host (ps, /proc/<pid>/cmdline) and in the engine's exec
requests; standard input is not. The script reads the hash from its first line and the keys
from the rest.

The script's exit code tells a caller's mistake apart from a broken node: 3 means the input
cannot be applied on this node (the name is one of the node image's accounts or groups, ...) and
nothing was changed; the result then says `bad_input: true` and its message starts with
"bad input:".
"""

from __future__ import annotations

import shlex

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

BAD_INPUT_RC = 3
CHANGED_MARK = "bunkhouse-changed: yes"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("script", "argv", "stdin_lines"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        script, argv, lines = args.get("script"), args.get("argv", []), args.get("stdin_lines", [])
        if not isinstance(script, str) or not script:
            raise AnsibleActionFail("script must be the script's text")
        if not isinstance(argv, list) or not all(isinstance(word, (str, int)) for word in argv):
            raise AnsibleActionFail("argv must be a list of words")
        if not isinstance(lines, list) or not all(isinstance(line, str) and "\n" not in line for line in lines):
            raise AnsibleActionFail("stdin_lines must be a list of lines")
        stdin = "".join(f"{line}\n" for line in lines)
        if self._task.check_mode:
            result["skipped"] = True
            return result
        command = " ".join(["/bin/sh", "-c", shlex.quote(script), "node-account",
                            *(shlex.quote(str(word)) for word in argv)])
        # executable=False: the connection's own shell runs the command, as with raw.
        done = self._low_level_execute_command(command, sudoable=False, in_data=stdin.encode(), executable=False)
        result.update(rc=done["rc"], stdout=done["stdout"], stdout_lines=done["stdout_lines"],
                      stderr=done["stderr"], stderr_lines=done["stderr_lines"])
        result["changed"] = CHANGED_MARK in done["stdout"]
        if done["rc"] != 0:
            result["failed"] = True
            last = (done["stderr_lines"] or ["non-zero return code"])[-1]
            result["bad_input"] = done["rc"] == BAD_INPUT_RC
            result["msg"] = f"bad input: {last}" if result["bad_input"] else last
        return result
