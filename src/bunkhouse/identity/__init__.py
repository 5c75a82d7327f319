"""Who calls the API: API users (admin or user), their bearer tokens, their quotas, and the
principal a request acts as. Not to be confused with the Linux accounts that reservations
make on nodes."""
