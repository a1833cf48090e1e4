"""Alembic migrations shipped inside the package; run them with `snapagent db upgrade`."""
