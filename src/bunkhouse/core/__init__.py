"""What every layer shares: the database and its sessions, column types, the one error shape,
the event log, lookups and list paging. Imports nothing of bunkhouse but config."""
