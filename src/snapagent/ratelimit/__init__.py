"""Per-caller request limits on chat and upload, counted in the shared database (the counter,
shared with the login and registration throttles, is :mod:`snapagent.db.rate_limiter`).

See :mod:`snapagent.ratelimit.middleware` (which requests count, and who the caller is).
"""
