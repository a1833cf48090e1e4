"""A Dify file with a long template converts in the import worker: on the server a long
template is read by a worker of its own, but a process that is already a worker (seccomp: it
cannot start processes) reads it in place."""

from __future__ import annotations

import json

from snapagent.interop.conversion import ImportOptions
from snapagent.interop.converter import DocumentConverter
from snapagent.interop.settings import ImportSettings
from snapagent.nodes.template_reading import INLINE_CHARS

from .dify_docs import REGISTRY, find, messages, node
from .test_dify_reader import answer_app


async def test_a_long_template_converts_in_the_import_worker() -> None:
    source = "{{ a }}-" * 600 + "{% for x in items %}{{ x }}{% endfor %}"
    assert len(source) > INLINE_CHARS
    template = node(
        "fmt",
        "template-transform",
        template=source,
        variables=[{"variable": "a", "value_selector": ["sys", "query"]}],
    )
    converter = DocumentConverter.create(ImportSettings())
    try:
        bot = await converter.convert(
            json.dumps(answer_app("{{#fmt.output#}}", template)).encode(),
            ImportOptions(model_override="offline", node_types=frozenset(REGISTRY.type_keys)),
        )
    finally:
        await converter.close()
    assert find(bot.graph, "fmt")["inputs"] == {"a": {"selector": ["start", "query"]}}
    assert not [m for m in messages(bot) if "does not parse" in m]
