"""Behaviour 3: profiles (seed 004). Preparing a profile makes each of its named containers
ready and holds them with a lease (id, end, extend, release)."""
