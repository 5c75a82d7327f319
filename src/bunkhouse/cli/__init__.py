"""Operator commands on the service's database, for the operator at the machine: users and
tokens (`python -m bunkhouse.cli`), and the schema (`python -m bunkhouse.cli migrate`)."""
