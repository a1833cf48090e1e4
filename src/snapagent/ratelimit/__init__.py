"""Per-caller request limits on chat and upload, counted in the shared database.

See :mod:`snapagent.ratelimit.limiter` (the counter) and :mod:`snapagent.ratelimit.middleware`
(which requests count, and who the caller is).
"""
