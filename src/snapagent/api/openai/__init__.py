"""The OpenAI-compatible API: ``GET /v1/models`` and ``POST /v1/chat/completions``, where a bot
is a model (see ``docs/integrations.md``).

- `schemas`: the request and response bodies.
- `conversation`: a request's ``messages`` as one chat turn, its history and its session.
- `completions`: chat turn results as ``chat.completion`` / ``chat.completion.chunk`` bodies.
- `routes`: the router.
"""
