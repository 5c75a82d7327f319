"""The fleet: engines, containers, templates, pools, claims, and the monitor that quarantines
and recovers containers. It knows no product: a container's holder is an opaque lease id, and
when a held container is lost the fleet says so (Fleet.on_lost) to whoever listens."""
