"""One router per resource; :mod:`snapagent.api.app` includes them all in one list."""
