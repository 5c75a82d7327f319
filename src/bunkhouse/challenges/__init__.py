"""Behaviour 2: challenges, one instance per team from an allowed image, each with its own
address and flag, and seed 000's and 003's routes."""
