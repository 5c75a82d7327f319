"""Behaviour 1, reservations: N SSH nodes for M minutes, an account with the caller's password
on each, gone exactly on time. Models, service, jobs, the JSON API and seed 002's routes."""
