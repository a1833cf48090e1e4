"""The demo installation `snapagent demo` seeds: a user, an API key, a knowledge base built from
the bundled documents (``documents/``, English and Korean) and a published bot."""
