"""How each of our node types is written as a Dify node (`NodeWriter`), and the per-node
settings (error strategy, retries) and value selectors they share. See `writer`.
"""

from __future__ import annotations

import uuid
from typing import Any

from snapagent.interop.dify.templates_out import Selector, selector_text, to_dify_text
from snapagent.interop.dify.writer_agent import agent_data
from snapagent.interop.report import ImportReport

__all__ = ["NodeWriter", "stable_id"]

_NAMESPACE = uuid.UUID("6f1c2b8e-5d0a-4c1e-9b7a-2d3e4f5a6b7c")
_OPERATORS = {
    "contains": "contains",
    "not_contains": "not contains",
    "starts_with": "start with",
    "ends_with": "end with",
    "equals": "is",
    "not_equals": "is not",
    "is_empty": "empty",
    "is_not_empty": "not empty",
    "greater_than": ">",
    "less_than": "<",
    "greater_or_equal": "≥",
    "less_or_equal": "≤",
    "in": "in",
    "not_in": "not in",
}
_NUMERIC_EQUALITY = {"equals": "=", "not_equals": "≠"}
_RENAMED = {
    "knowledge": {"documents": "result"},
    "template": {"text": "output"},
    "parameter_extractor": {"is_success": "__is_success", "reason": "__reason", "usage": "__usage"},
    "document_extractor": {"texts": "text"},
}
_PROVIDERS = {
    "anthropic": "langgenius/anthropic/anthropic",
    "openai": "langgenius/openai/openai",
    "bedrock": "langgenius/bedrock/bedrock",
}


def stable_id(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


class NodeWriter:
    """Writes our nodes as Dify nodes; collects what does not carry over in ``report``."""

    def __init__(self, graph: dict[str, Any], report: ImportReport) -> None:
        self.graph = graph
        self.report = report
        self.types: dict[str, str] = {}
        self.nodes_by_id: dict[str, dict[str, Any]] = {}
        self._index(graph)
        self.start_id = next(
            (n["id"] for n in graph.get("nodes", []) if n.get("type") == "start"), "start"
        )
        self.chat = self._is_chat(graph)

    def _index(self, graph: dict[str, Any]) -> None:
        for node in graph.get("nodes", []):
            self.types[node["id"]] = node.get("type", "")
            self.nodes_by_id[node["id"]] = node
            body = (node.get("config") or {}).get("graph")
            if isinstance(body, dict):
                self._index(body)

    @staticmethod
    def _is_chat(graph: dict[str, Any]) -> bool:
        for node in graph.get("nodes", []):
            if node.get("type") == "answer":
                return True
            if node.get("type") == "end" and "answer" in (node.get("config") or {}).get(
                "outputs", ["answer"]
            ):
                return True
        return False

    def note(self, severity: Any, message: str, action: str, node_id: str | None = None) -> None:
        self.report.add(severity, message, action, node_id=node_id)

    # -- values -----------------------------------------------------------------------------

    def selector(self, ours: Selector, node_id: str) -> list[str] | None:
        parts = [str(p) for p in ours]
        head, port, path = parts[0], parts[1], parts[2:]
        if head == "sys":
            mapped = {"bot_id": "app_id", "run_id": "workflow_run_id"}.get(port, port)
            return ["sys", mapped, *path]
        if head == "conversation":
            return parts
        if head == self.start_id:
            if port == "query":
                return ["sys", "query", *path] if self.chat else [head, "query", *path]
            if port == "session_id":
                return ["sys", "conversation_id", *path]
            if port == "history":
                self.note(
                    "warning",
                    "a node reads the chat history, which Dify gives only through memory",
                    "the reference was left out",
                    node_id,
                )
                return None
            return parts
        kind = self.types.get(head, "")
        if kind == "placeholder":
            return parts
        if kind == "iteration" and port not in ("item", "index"):
            return [head, "output", *path]
        if kind == "agent" and port not in ("text", "error"):
            self.note(
                "warning",
                f"a node reads the agent's {port!r}; Dify's agent node outputs text, files and "
                "json",
                "the reference is written as it is and reads nothing in Dify",
                node_id,
            )
        if port == "error" and path[:1] in (["message"], ["type"]):
            return [head, f"error_{path[0]}", *path[1:]]
        return [head, _RENAMED.get(kind, {}).get(port, port), *path]

    def inputs(
        self, node: dict[str, Any], data_edges: dict[str, dict[str, Selector]]
    ) -> dict[str, list[str]]:
        """Every input port of a node -> the Dify selector it reads."""
        out: dict[str, list[str]] = {}
        wired: dict[str, Selector] = {
            port: mapping["selector"] for port, mapping in (node.get("inputs") or {}).items()
        }
        wired.update(data_edges.get(node["id"], {}))
        for port, selector in wired.items():
            translated = self.selector(selector, node["id"])
            if translated is not None:
                out[port] = translated
        return out

    def text(
        self, template: str, inputs: dict[str, list[str]], node_id: str, field: str
    ) -> tuple[str, bool]:
        text, plain = to_dify_text(template or "", {k: list(v) for k, v in inputs.items()})
        return text, plain

    def model(self, model_id: Any, node_id: str) -> dict[str, Any]:
        provider, _, name = str(model_id or "").partition(":")
        if provider in _PROVIDERS and name:
            return {
                "provider": _PROVIDERS[provider],
                "name": name,
                "mode": "chat",
                "completion_params": {},
            }
        self.note(
            "action",
            f"model {model_id or '(the bot default)'!r} has no Dify provider",
            "written as OpenAI gpt-4o-mini: pick the model in Dify",
            node_id,
        )
        return {
            "provider": _PROVIDERS["openai"],
            "name": "gpt-4o-mini",
            "mode": "chat",
            "completion_params": {},
        }

    # -- nodes ------------------------------------------------------------------------------

    def node_data(self, node: dict[str, Any], inputs: dict[str, list[str]]) -> dict[str, Any]:
        kind = node.get("type", "")
        config = node.get("config") or {}
        method = getattr(self, f"_node_{kind}", None)
        if kind == "placeholder" and str(config.get("source", "")).startswith("dify:"):
            original = dict(config.get("original") or {})
            original.setdefault("type", config["source"].split(":", 1)[1])
            return original
        if method is None:
            self.note(
                "action",
                f"node type {kind!r} has no Dify equivalent",
                "written as a template-transform that outputs a note: replace it",
                node["id"],
            )
            return {
                "type": "template-transform",
                "template": f"SnapAgent {kind} node",
                "variables": [],
            }
        data: dict[str, Any] = method(node, config, inputs)
        return data

    def _node_start(
        self, node: dict[str, Any], config: dict[str, Any], inputs: dict[str, list[str]]
    ) -> dict[str, Any]:
        types = {
            "string": "paragraph",
            "number": "number",
            "integer": "number",
            "boolean": "checkbox",
            "object": "json_object",
        }
        variables = []
        if not self.chat:
            variables.append(
                {
                    "variable": "query",
                    "label": "query",
                    "type": "paragraph",
                    "required": False,
                    "max_length": 100_000,
                }
            )
        for port in config.get("inputs") or []:
            kind = types.get(port.get("type", "string"), "paragraph")
            variable = {
                "variable": port["name"],
                "label": port.get("description") or port["name"],
                "type": kind,
                "required": bool(port.get("required", False)),
                "max_length": 100_000,
            }
            if port.get("default") is not None:
                variable["default"] = port["default"]
            variables.append(variable)
        return {"type": "start", "variables": variables}

    def _node_end(
        self, node: dict[str, Any], config: dict[str, Any], inputs: dict[str, list[str]]
    ) -> dict[str, Any]:
        if self.chat:
            selector = inputs.get("answer")
            others = [o for o in config.get("outputs", ["answer"]) if o != "answer"]
            if others:
                self.note(
                    "warning",
                    f"outputs {', '.join(others)} have no place in a chat app",
                    "only the answer is written (an answer node)",
                    node["id"],
                )
            return {
                "type": "answer",
                "answer": selector_text(list(selector)) if selector else "",
                "variables": [],
            }
        outputs = [
            {"variable": name, "value_selector": inputs[name]}
            for name in config.get("outputs", ["answer"])
            if name in inputs
        ]
        return {"type": "end", "outputs": outputs}

    def _node_answer(
        self, node: dict[str, Any], config: dict[str, Any], inputs: dict[str, list[str]]
    ) -> dict[str, Any]:
        text, plain = self.text(config.get("answer", ""), inputs, node["id"], "answer")
        if not plain:
            self.note(
                "warning",
                "the answer template uses Jinja2 beyond substitutions",
                "written as it is: Dify's answer node does not render Jinja2",
                node["id"],
            )
        return {"type": "answer", "answer": text, "variables": []}

    def _node_template(
        self, node: dict[str, Any], config: dict[str, Any], inputs: dict[str, list[str]]
    ) -> dict[str, Any]:
        variables = [{"variable": port, "value_selector": sel} for port, sel in inputs.items()]
        return {
            "type": "template-transform",
            "template": config.get("template", ""),
            "variables": variables,
        }

    def _prompt(
        self,
        template: str,
        inputs: dict[str, list[str]],
        context: set[str],
        node_id: str,
        role: str,
    ) -> dict[str, Any]:
        selectors = {
            port: (["context"] if port in context else sel) for port, sel in inputs.items()
        }
        text, plain = to_dify_text(template, {k: list(v) for k, v in selectors.items()})
        message: dict[str, Any] = {"id": stable_id(node_id, role), "role": role, "text": text}
        if not plain:
            message.update(edition_type="jinja2", jinja2_text=template, text="")
        return message

    def _node_llm(
        self, node: dict[str, Any], config: dict[str, Any], inputs: dict[str, list[str]]
    ) -> dict[str, Any]:
        model = self.model(config.get("model"), node["id"])
        params = model["completion_params"]
        for key in ("temperature", "max_tokens", "stop"):
            if config.get(key) not in (None, []):
                params[key] = config[key]
        context_ports = {
            p
            for p, sel in inputs.items()
            if self.types.get(sel[0]) == "knowledge" and sel[1:2] == ["result"]
        }
        messages = []
        if config.get("system_prompt"):
            messages.append(
                self._prompt(config["system_prompt"], inputs, context_ports, node["id"], "system")
            )
        messages.append(
            self._prompt(
                config.get("prompt", "{{ query }}"), inputs, context_ports, node["id"], "user"
            )
        )
        data: dict[str, Any] = {
            "type": "llm",
            "model": model,
            "prompt_template": messages,
            "context": {
                "enabled": bool(context_ports),
                "variable_selector": inputs[min(context_ports)] if context_ports else [],
            },
            "vision": {"enabled": False},
        }
        if any(m.get("edition_type") == "jinja2" for m in messages):
            data["prompt_config"] = {
                "jinja2_variables": [
                    {"variable": p, "value_selector": s} for p, s in inputs.items()
                ]
            }
        if config.get("use_run_history", True) and self.chat:
            data["memory"] = {"window": {"enabled": False, "size": 10}, "query_prompt_template": ""}
        if config.get("structured_output"):
            data["structured_output_enabled"] = True
            data["structured_output"] = {"schema": config["structured_output"]}
        return data

    def _node_agent(
        self, node: dict[str, Any], config: dict[str, Any], inputs: dict[str, list[str]]
    ) -> dict[str, Any]:
        return agent_data(self, node, config, inputs)

    def _node_knowledge(
        self, node: dict[str, Any], config: dict[str, Any], inputs: dict[str, list[str]]
    ) -> dict[str, Any]:
        self.note(
            "action",
            "knowledge bases cannot become Dify datasets (their documents stay here)",
            "the node has no datasets: pick them in Dify",
            node["id"],
        )
        retrieval: dict[str, Any] = {"top_k": config.get("top_k", 4), "reranking_enable": False}
        if config.get("score_threshold") is not None:
            retrieval.update(
                score_threshold=config["score_threshold"], score_threshold_enabled=True
            )
        return {
            "type": "knowledge-retrieval",
            "dataset_ids": [],
            "query_variable_selector": inputs.get("query", ["sys", "query"]),
            "retrieval_mode": "multiple",
            "multiple_retrieval_config": retrieval,
        }

    def _condition(
        self, condition: dict[str, Any], inputs: dict[str, list[str]], node_id: str, index: str
    ) -> dict[str, Any] | None:
        selector = inputs.get(condition.get("input", ""))
        if selector is None:
            self.note(
                "warning",
                f"a condition tests {condition.get('input')!r}, which reads nothing",
                "the condition was left out",
                node_id,
            )
            return None
        operator = condition.get("operator", "equals")
        value = condition.get("value")
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        dify_op = (
            _NUMERIC_EQUALITY[operator]
            if numeric and operator in _NUMERIC_EQUALITY
            else _OPERATORS.get(operator, "is")
        )
        return {
            "id": stable_id(node_id, index),
            "variable_selector": selector,
            "comparison_operator": dify_op,
            "value": value
            if isinstance(value, list)
            else (
                ""
                if value is None
                else str(value).lower()
                if isinstance(value, bool)
                else str(value)
            ),
            "varType": "number" if numeric or dify_op in (">", "<", "≥", "≤") else "string",
        }

    def _node_if_else(
        self, node: dict[str, Any], config: dict[str, Any], inputs: dict[str, list[str]]
    ) -> dict[str, Any]:
        cases = []
        for i, case in enumerate(config.get("cases", [])):
            conditions = [
                c
                for j, raw in enumerate(case.get("conditions", []))
                if (c := self._condition(raw, inputs, node["id"], f"{i}.{j}"))
            ]
            cases.append(
                {
                    "case_id": case.get("name") or "true",
                    "logical_operator": case.get("logic", "and"),
                    "conditions": conditions,
                }
            )
        return {"type": "if-else", "cases": cases}

    def _node_code(
        self, node: dict[str, Any], config: dict[str, Any], inputs: dict[str, list[str]]
    ) -> dict[str, Any]:
        types = {
            "integer": "number",
            "any": "object",
            "documents": "array[object]",
            "messages": "array[object]",
        }
        names = [p if isinstance(p, str) else p.get("name") for p in config.get("inputs", [])]
        return {
            "type": "code",
            "code_language": config.get("language", "python3"),
            "code": config.get("code", ""),
            "variables": [
                {"variable": n, "value_selector": inputs[n]} for n in names if n in inputs
            ],
            "outputs": {
                k: {"type": types.get(v, v), "children": None}
                for k, v in (config.get("outputs") or {}).items()
            },
        }

    def _node_http_request(
        self, node: dict[str, Any], config: dict[str, Any], inputs: dict[str, list[str]]
    ) -> dict[str, Any]:
        def text(value: Any) -> str:
            converted, plain = self.text(str(value), inputs, node["id"], "http")
            if not plain:
                self.note(
                    "warning",
                    "a request template uses Jinja2 beyond substitutions",
                    "written as it is",
                    node["id"],
                )
            return converted

        body = config.get("body") or {"type": "none"}
        kind = body.get("type", "none")
        dify_body: dict[str, Any] = {"type": "none", "data": []}
        if kind == "raw":
            is_json = "json" in str(body.get("content_type", ""))
            dify_body = {
                "type": "json" if is_json else "raw-text",
                "data": [{"type": "text", "key": "", "value": text(body.get("raw", ""))}],
            }
        elif kind == "form":
            dify_body = {
                "type": "x-www-form-urlencoded",
                "data": [
                    {"type": "text", "key": k, "value": text(v)}
                    for k, v in (body.get("form") or {}).items()
                ],
            }
        elif kind == "json":
            import json as _json

            dify_body = {
                "type": "json",
                "data": [
                    {
                        "type": "text",
                        "key": "",
                        "value": _json.dumps(body.get("json"), ensure_ascii=False),
                    }
                ],
            }
            self.note(
                "info",
                "a JSON body's string templates are written as JSON text",
                "check the substitutions in Dify",
                node["id"],
            )
        timeout = config.get("timeout_s") or 30
        return {
            "type": "http-request",
            "method": str(config.get("method", "GET")).lower(),
            "url": text(config.get("url", "")),
            "headers": "\n".join(
                f"{k}:{text(v)}" for k, v in (config.get("headers") or {}).items()
            ),
            "params": "\n".join(f"{k}:{text(v)}" for k, v in (config.get("params") or {}).items()),
            "authorization": {"type": "no-auth", "config": None},
            "body": dify_body,
            "timeout": {"connect": min(timeout, 10), "read": timeout, "write": timeout},
            "variables": [],
        }

    def _node_question_classifier(
        self, node: dict[str, Any], config: dict[str, Any], inputs: dict[str, list[str]]
    ) -> dict[str, Any]:
        instruction, _ = self.text(config.get("instruction", ""), inputs, node["id"], "instruction")
        return {
            "type": "question-classifier",
            "model": self.model(config.get("model"), node["id"]),
            "query_variable_selector": inputs.get("query", ["sys", "query"]),
            "classes": [{"id": c["id"], "name": c["name"]} for c in config.get("classes", [])],
            "instruction": instruction,
            "vision": {"enabled": False},
        }

    def _node_parameter_extractor(
        self, node: dict[str, Any], config: dict[str, Any], inputs: dict[str, list[str]]
    ) -> dict[str, Any]:
        types = {"boolean": "bool", "integer": "number"}
        instruction, _ = self.text(config.get("instruction", ""), inputs, node["id"], "instruction")
        return {
            "type": "parameter-extractor",
            "model": self.model(config.get("model"), node["id"]),
            "query": inputs.get("query", ["sys", "query"]),
            "parameters": [
                {
                    "name": p["name"],
                    "type": types.get(p.get("type", "string"), p.get("type", "string")),
                    "description": p.get("description", ""),
                    "required": p.get("required", True),
                }
                for p in config.get("parameters", [])
            ],
            "instruction": instruction,
            "reasoning_mode": "function_call",
            "vision": {"enabled": False},
        }

    def _node_variable_aggregator(
        self, node: dict[str, Any], config: dict[str, Any], inputs: dict[str, list[str]]
    ) -> dict[str, Any]:
        kind = config.get("output_type", "any")
        return {
            "type": "variable-aggregator",
            "output_type": "string" if kind == "any" else kind,
            "variables": [inputs[n] for n in config.get("variables", []) if n in inputs],
        }

    def _node_variable_assigner(
        self, node: dict[str, Any], config: dict[str, Any], inputs: dict[str, list[str]]
    ) -> dict[str, Any]:
        operations = {
            "overwrite": "over-write",
            "append": "append",
            "extend": "extend",
            "clear": "clear",
            "increment": "+=",
        }
        items = []
        for item in config.get("items", []):
            entry: dict[str, Any] = {
                "variable_selector": ["conversation", item["variable"]],
                "operation": operations.get(item.get("operation", "overwrite"), "over-write"),
            }
            if item.get("input") and item["input"] in inputs:
                entry.update(input_type="variable", value=inputs[item["input"]])
            else:
                value = item.get("value")
                entry.update(
                    input_type="constant",
                    value=1 if value is None and entry["operation"] == "+=" else value,
                )
            items.append(entry)
        return {"type": "assigner", "version": "2", "items": items}

    def _node_document_extractor(
        self, node: dict[str, Any], config: dict[str, Any], inputs: dict[str, list[str]]
    ) -> dict[str, Any]:
        return {
            "type": "document-extractor",
            "variable_selector": inputs.get("files", ["sys", "files"]),
            "is_array_file": True,
        }

    # -- settings shared by every node ------------------------------------------------------

    def settings(self, node: dict[str, Any], data: dict[str, Any]) -> None:
        strategy = node.get("error_strategy")
        if strategy == "fail_branch":
            data["error_strategy"] = "fail-branch"
        elif strategy == "default_value":
            data["error_strategy"] = "default-value"
            data["default_value"] = [
                {"key": k, "type": _value_type(v), "value": v}
                for k, v in (node.get("default_outputs") or {}).items()
            ]
        retry = node.get("retry")
        if isinstance(retry, dict) and retry.get("max_retries"):
            data["retry_config"] = {
                "retry_enabled": True,
                "max_retries": min(10, retry["max_retries"]),
                "retry_interval": int(1000 * retry.get("backoff_s", 0)),
            }
            if retry.get("backoff_multiplier", 2.0) != 1.0:
                self.note(
                    "info",
                    "retry waits grow here (backoff); Dify waits the same each time",
                    "Dify retries at the first interval",
                    node["id"],
                )
        if node.get("timeout_s"):
            self.note(
                "info",
                f"a timeout of {node['timeout_s']} s has no Dify setting",
                "left out",
                node["id"],
            )


def _value_type(value: Any) -> str:
    if isinstance(value, (bool, str)):
        return "string"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array[object]"
    return "object"
