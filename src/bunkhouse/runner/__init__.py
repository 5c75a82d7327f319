"""Ansible runs: the only code that imports ansible_runner (runner/invoke.py). A run folder per
run, variables in a 0600 file, a deadline that holds even when the service is gone (guard.py),
standby runs started ahead, a batcher generic over playbooks, and one record per run."""
