"""The ``offline`` model's tool calling and structured output: deterministic, no network.

The rules are simple enough to predict, so every node that needs them (classifier, extractor,
agent) runs and is tested without keys:

- **Structured output** (`fill_schema`): each property of the schema is filled from the
  question text (``ChatRequest.query``, else the last user message). An ``enum`` takes the
  option sharing the most words with the text (none shared: the *last* option, where lists
  conventionally keep "other"); numbers are the number written next to the property's name
  (else the next unused one); booleans are ``name: yes/no``, else a mention of the name (not
  negated nearby); strings are ``name: value`` /
  ``name is value`` phrases, an e-mail/URL/date/phone when the name or description asks for
  one, or the whole text when it is the only string wanted. What cannot be found is left out.
- **Tool calling** (`decide_tools`): a user turn calls every tool whose name and description
  share words with the question (at least half as many as the best one; ``required`` or a
  named tool forces a call), arguments filled as above. Once the conversation holds tool
  results the model answers, quoting them - so an agent loop over it always ends.

    result = offline_tool_answer(request)     # a ChatResult, or None for a plain question
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from snapagent.llm.relevance import RelevanceScorer, features, has_hangul
from snapagent.llm.tokens import estimate_tokens
from snapagent.workflow.services import (
    ChatMessage,
    ChatRequest,
    ChatResult,
    TokenUsage,
    ToolCall,
    ToolSpec,
)

__all__ = ["decide_tools", "fill_schema", "offline_tool_answer"]

MODEL_ID = "offline"
_MAX_QUOTE = 1_000  # characters of each tool result quoted in the final answer

_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:[.,]\d+)?(?![\w])")
_PATTERNS = {
    # Only from the start of a run of address characters: tried at every position of a long
    # word with no "@", the local part backtracked over the rest of it (quadratic).
    "email": re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    "url": re.compile(r"https?://[^\s<>\"']+"),
    "date": re.compile(
        r"\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4}|\d{4}년\s*\d{1,2}월\s*\d{1,2}일"
    ),
    "phone": re.compile(r"\+?\d[\d\s().-]{6,}\d"),
}
_CUES = {
    "email": ("email", "e-mail", "mail", "이메일"),
    "url": ("url", "link", "website", "링크", "주소"),
    "date": ("date", "day", "날짜", "일자"),
    "phone": ("phone", "tel", "mobile", "전화", "연락처"),
}
_YES = frozenset(["yes", "true", "yeah", "yep", "sure", "네", "예", "응", "맞아요", "맞습니다"])
_NO = frozenset(
    ["no", "not", "false", "never", "don't", "dont", "nope", "아니", "아니요", "아뇨", "없", "안"]
)


def _question(request: ChatRequest) -> str:
    if request.query:
        return request.query
    return next((m.content for m in reversed(request.messages) if m.role == "user"), "")


def _words(name: str) -> str:
    return re.sub(r"[_\-]+", " ", name)


def _labelled(text: str, name: str) -> str | None:
    """The value in ``name: value`` / ``name = value`` / ``name is value`` (to the end of the
    clause)."""
    label = re.escape(_words(name)).replace(r"\ ", r"[\s_\-]+")
    found = re.search(
        rf"\b{label}\b\s*(?:[:=]|\bis\b|\bare\b|\bwas\b)\s*(.+?)(?:[,;\n]|\.\s|\.$|$)",
        text,
        re.I,
    )
    return found.group(1).strip().rstrip("?!.").strip("\"' ") if found else None


def _cue(name: str, description: str) -> str | None:
    hay = f"{_words(name)} {description}".lower()
    return next((kind for kind, cues in _CUES.items() if any(c in hay for c in cues)), None)


def _pick_option(options: Sequence[Any], text: str) -> Any:
    labels = [str(option) for option in options]
    scores = RelevanceScorer([_words(label) for label in labels]).score(text)
    best = max(scores, default=0.0)
    if best <= 0:
        return options[-1]
    return options[scores.index(best)]


def _number_near(text: str, name: str, description: str, used: set[int]) -> float | None:
    """The number closest after a mention of the property (else the first unused one)."""
    numbers = [(m.start(), m.group()) for m in _NUMBER.finditer(text)]
    if not numbers:
        return None
    wanted = features(f"{_words(name)} {description}")
    lowered = text.lower()
    for token in re.finditer(r"\w+", lowered):
        if features(token.group()) & wanted:
            after = [n for n in numbers if n[0] >= token.end() and n[0] not in used]
            if after and after[0][0] - token.end() <= 24:
                used.add(after[0][0])
                return float(after[0][1].replace(",", "."))
    for start, raw in numbers:
        if start not in used:
            used.add(start)
            return float(raw.replace(",", "."))
    return None


def _boolean(text: str, name: str) -> bool | None:
    """``name: yes``; else the words around a mention of the name (a mention alone means
    yes: "this is urgent"); None when the text does not mention it."""
    labelled = _labelled(text, name)
    if labelled is not None:
        words = set(re.findall(r"[\w']+", labelled.lower()))
        if words & _NO:
            return False
        if words & _YES:
            return True
    tokens = re.findall(r"[\w']+", text.lower())
    wanted = features(_words(name))
    for i, token in enumerate(tokens):
        if features(token) & wanted:
            around = set(tokens[max(0, i - 3) : i + 4])
            return not around & _NO
    return None


def _string(text: str, name: str, prop: Mapping[str, Any], only_string: bool) -> str | None:
    description = str(prop.get("description", ""))
    labelled = _labelled(text, name)
    if labelled:
        return labelled
    kind = _cue(name, description)
    if kind is not None:
        found = _PATTERNS[kind].search(text)
        return found.group().strip() if found else None
    return text.strip() or None if only_string else None


def _value(text: str, name: str, prop: Mapping[str, Any], used: set[int], only_string: bool) -> Any:
    if prop.get("enum"):
        return _pick_option(list(prop["enum"]), text)
    kind = prop.get("type")
    if isinstance(kind, list):  # ["string", "null"]: the first real type
        kind = next((k for k in kind if k != "null"), None)
    description = str(prop.get("description", ""))
    if kind in ("integer", "number"):
        number = _number_near(text, name, description, used)
        if number is None:
            return None
        return int(number) if kind == "integer" else number
    if kind == "boolean":
        return _boolean(text, name)
    if kind == "object":
        return fill_schema(prop, text) or None
    if kind == "array":
        raw_items = prop.get("items")
        items: Mapping[str, Any] = raw_items if isinstance(raw_items, Mapping) else {}
        if items.get("enum"):
            mentioned = [o for o in items["enum"] if features(_words(str(o))) & features(text)]
            return mentioned or None
        listed = _labelled(text, name)
        return [part.strip() for part in listed.split(" and ") if part.strip()] if listed else None
    return _string(text, name, prop, only_string)


def fill_schema(schema: Mapping[str, Any], text: str) -> dict[str, Any]:
    """The properties of an ``object`` schema found in ``text`` (see the module docstring)."""
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return {}
    strings = [
        name
        for name, prop in properties.items()
        if isinstance(prop, Mapping) and prop.get("type") == "string" and "enum" not in prop
    ]
    used: set[int] = set()
    out: dict[str, Any] = {}
    for name, prop in properties.items():
        if not isinstance(prop, Mapping):
            continue
        value = _value(text, str(name), prop, used, only_string=len(strings) == 1)
        if value is not None:
            out[str(name)] = value
    return out


def decide_tools(request: ChatRequest) -> tuple[ToolCall, ...]:
    """The calls a user turn makes (see the module docstring); none once tools have answered."""
    choice = request.tool_choice
    if not request.tools or (choice is not None and choice.mode == "none"):
        return ()
    if request.messages and request.messages[-1].role == "tool":
        return ()
    question = _question(request)
    by_name = {tool.name: tool for tool in request.tools}
    if choice is not None and choice.mode == "tool" and choice.name in by_name:
        chosen: list[ToolSpec] = [by_name[choice.name]]
    else:
        labels = [f"{_words(t.name)} {t.description}" for t in request.tools]
        scores = RelevanceScorer(labels).score(question)
        best = max(scores, default=0.0)
        ranked = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
        chosen = [request.tools[i] for i in ranked if best > 0 and scores[i] >= best / 2]
        if not chosen and choice is not None and choice.mode == "required":
            chosen = [request.tools[ranked[0]]]
    return tuple(
        ToolCall(f"offline_call_{n}", tool.name, fill_schema(tool.parameters, question))
        for n, tool in enumerate(chosen, start=1)
    )


def _tool_report(request: ChatRequest) -> str:
    """The answer once tools have answered: what each returned, quoted."""
    names = {
        call.id: call.name
        for message in request.messages
        if message.role == "assistant"
        for call in message.tool_calls
    }
    korean = has_hangul(_question(request))
    lines = ["도구 실행 결과입니다:" if korean else "From the tools:"]
    for message in _latest_results(request.messages):
        name = names.get(message.tool_call_id or "", "tool")
        quoted = message.content[:_MAX_QUOTE] + ("..." if len(message.content) > _MAX_QUOTE else "")
        failed = (" (실패)" if korean else " (failed)") if message.is_error else ""
        lines.append(f"- {name}{failed}: {quoted}")
    return "\n".join(lines)


def _latest_results(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    results: list[ChatMessage] = []
    for message in reversed(messages):
        if message.role != "tool":
            break
        results.append(message)
    return results[::-1]


def _usage(request: ChatRequest, answer: str) -> TokenUsage:
    prompt = [request.system or "", *(m.content for m in request.messages)]
    return TokenUsage(estimate_tokens("\n".join(prompt)), estimate_tokens(answer))


def offline_tool_answer(request: ChatRequest) -> ChatResult | None:
    """The offline answer to a request with a structured output or tools, or None when the
    plain extractive answerer should answer (no tools called, nothing structured asked)."""
    if request.response_format is not None:
        data = fill_schema(request.response_format.schema, _question(request))
        text = json.dumps(data, ensure_ascii=False)
        return ChatResult(text, MODEL_ID, "stop", _usage(request, text), data=data)
    if request.messages and request.messages[-1].role == "tool":
        text = _tool_report(request)
        return ChatResult(text, MODEL_ID, "stop", _usage(request, text))
    calls = decide_tools(request)
    if calls:
        usage = _usage(request, json.dumps([c.to_dict() for c in calls]))
        return ChatResult("", MODEL_ID, "tool_calls", usage, tool_calls=calls)
    return None
