"""Dify's Jinja2 templates (template-transform, LLM prompts in jinja2 mode) -> ours.

Dify names each template variable with a selector (``variables: [{"variable": "name",
"value_selector": [...]}]``); we make each one an input port of the same name. Dify renders a
variable it was not given as empty text, our templates refuse undefined variables: such
variables are set to ``""`` at the top of the template (reported).
"""

from __future__ import annotations

from typing import Any

from snapagent.errors import DefinitionError
from snapagent.interop.dify.context import DifyContext
from snapagent.interop.dify.references import Selector
from snapagent.interop.names import PortNames
from snapagent.nodes.templating import template_variables

__all__ = ["jinja_template"]


def jinja_template(
    source: Any,
    variables: Any,
    ctx: DifyContext,
    ports: PortNames,
    inputs: dict[str, Selector],
    *,
    node_id: str,
    field: str,
) -> str:
    """The template, with its declared variables added to ``inputs``."""
    text = source if isinstance(source, str) else ""
    try:
        used = set(template_variables(text))
    except DefinitionError as exc:
        ctx.note(
            "action",
            f"the Jinja2 template does not parse here: {exc.message}",
            "kept as it is; fix it in the editor",
            node_id=node_id,
            field=field,
        )
        return text
    for index, variable in enumerate(variables if isinstance(variables, list) else []):
        if not isinstance(variable, dict):
            continue
        name = str(variable.get("variable", ""))
        selector = ctx.selector(
            variable.get("value_selector"), node_id=node_id, field=f"{field}.variables[{index}]"
        )
        port = ports.name_for(("jinja", name), name)
        if port != name:
            ctx.note(
                "action",
                f"template variable {name!r} cannot be a port of this node",
                f"its value is the input {port!r}: rename it in the template",
                node_id=node_id,
                field=f"{field}.variables[{index}]",
            )
        if selector is not None and port in used:
            inputs[port] = selector
    missing = sorted(name for name in used if name not in inputs)
    if not missing:
        return text
    ctx.note(
        "info",
        f"the template reads {', '.join(missing)}, which the node does not give it",
        "set to empty text at the top of the template (Dify renders them empty)",
        node_id=node_id,
        field=field,
    )
    prelude = "".join(f'{{% set {name} = "" %}}' for name in missing)
    return prelude + text
