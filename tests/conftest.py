"""Shared test configuration. Area fixtures live in the conftest of each test folder."""

from __future__ import annotations

import os

# Nothing may download weights at run time: make any accidental hub access fail loudly.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
