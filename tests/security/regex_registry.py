"""Every regular expression in ``src/``, what user input reaches it, and the adversarial inputs
it is timed against (`test_regex_backtracking.py`).

The test finds every pattern in the source (``re.<function>(pattern, ...)``, ``pattern=`` /
``regex=`` keywords of pydantic and FastAPI fields, Starlette's ``compile_path``) and fails
when one is not listed here: a new regex cannot arrive without being timed. An entry's key is
the file and the pattern exactly as written (a dynamic pattern: its expression in ``<...>``,
with ``build`` making a real instance).

Each pattern is timed against every generic pump in `GENERIC_PUMPS` plus its own ``pumps``
(the pieces that make *it* backtrack, if it ever did), each repeated up to thousands of
characters and followed by each of `SUFFIXES`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["EXEMPT", "GENERIC_PUMPS", "REGISTRY", "SUFFIXES", "Regex"]

GENERIC_PUMPS = (
    "a", "Z", "1", "_", "-", ".", " ", "\t", "\n", "\r\n", ":", "=", "@", "/", '"', "'", "<",
    "{", "(", "#", "*", "가", "\u3000", "a ", "a.", "a-", "a_", "a@", "a:", "1.", "1 ", "1/",
    "가.", "<!--", "<!---->", "-->", "{{", "a\n", " \n",
)  # fmt: skip
SUFFIXES = ("", "\x00!")


@dataclass(frozen=True)
class Regex:
    """One pattern of ``src/`` (``path`` relative to ``src/``) and who can feed it."""

    path: str
    source: str | bytes
    reach: str
    """What user input reaches it, and any bound on that input."""
    pumps: tuple[str, ...] = ()
    build: Callable[[], re.Pattern[str] | re.Pattern[bytes]] | None = field(
        default=None, compare=False
    )
    """For a dynamic pattern: a real instance (from the module, or made as the code makes it)."""

    def compiled(self, flags: int) -> tuple[str | bytes, int]:
        """The pattern source and flags to time."""
        if self.build is not None:
            made = self.build()
            return made.pattern, made.flags
        return self.source, flags


def _tokenize_token() -> re.Pattern[str]:
    from snapagent.knowledge import tokenize

    return tokenize._TOKEN


def _tokenize_cjk() -> re.Pattern[str]:
    from snapagent.knowledge import tokenize

    return tokenize._CJK_CHAR


def _labelled_pattern() -> re.Pattern[str]:
    """`offline_tools._labelled` builds its pattern from a schema property name."""
    label = re.escape("delivery date").replace(r"\ ", r"[\s_\-]+")
    return re.compile(
        rf"\b{label}\b\s*(?:[:=]|\bis\b|\bare\b|\bwas\b)\s*(.+?)(?:[,;\n]|\.\s|\.$|$)", re.I
    )


def _route_pattern() -> re.Pattern[str]:
    """`observability.routing` compiles every route template with Starlette's compile_path."""
    from starlette.routing import compile_path

    return compile_path("/api/v1/bots/{bot_id}/workflow-versions/{version_id}/nodes/{node_id}")[0]


IDENTIFIER = r"^[^\W\d]\w*$"
NAME_FIELD = "a config field of a graph (pydantic's Rust regex engine: linear by construction)"
LOG_LINE = "log messages and extra fields (request paths, errors quoting user input)"

REGISTRY: tuple[Regex, ...] = (
    # -- HTTP requests -------------------------------------------------------------------------
    Regex(
        "snapagent/api/routes/executions.py",
        "^(succeeded|failed|cancelled)$",
        "the ?status= query parameter (pydantic's Rust engine)",
    ),
    Regex("snapagent/api/routes/executions.py", "^(v1|v2)$", "the ?engine= query parameter"),
    Regex("snapagent/api/routes/executions.py", "^(chat|debug)$", "the ?trigger= query parameter"),
    Regex(
        "snapagent/observability/middleware.py",
        r"^[A-Za-z0-9._\-]{1,128}$",
        "the X-Request-ID header of every request",
    ),
    Regex(
        "snapagent/observability/routing.py",
        "<compile_path(template)>",
        "the path of every request, matched against each route template",
        pumps=("a/", "%2F", "/"),
        build=_route_pattern,
    ),
    Regex(
        "snapagent/services/accounts.py",
        r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        "the email of register and login (pydantic caps it at 320 characters first)",
        pumps=("a.", ".", "a@", "a.@"),
    ),
    Regex(
        "snapagent/services/executions.py",
        r"…\[_truncated: \d+ chars\]\Z",
        "recorded string values (at most SNAPAGENT_EXECUTIONS_VALUE_MAX_CHARS plus the marker) "
        "a node run or replay would reuse",
        pumps=("…[_truncated: 1", "…[_truncated: ", "1"),
    ),
    Regex(
        "snapagent/services/chat.py",
        r"^[A-Za-z0-9._:\-]{1,64}$",
        "the session_id of every chat request",
    ),
    # -- graphs and node config ----------------------------------------------------------------
    Regex("snapagent/workflow/schema.py", IDENTIFIER, "port names in a graph; " + NAME_FIELD),
    Regex("snapagent/workflow/conversation.py", IDENTIFIER, "conversation variable names"),
    Regex("snapagent/nodes/if_else.py", IDENTIFIER, "if/else inputs and case names"),
    Regex("snapagent/nodes/loop.py", IDENTIFIER, "loop variable names; " + NAME_FIELD),
    Regex("snapagent/nodes/parameter_extractor.py", IDENTIFIER, "parameter names"),
    Regex("snapagent/nodes/variable_assigner.py", IDENTIFIER, "assigned variable names"),
    Regex(
        "snapagent/nodes/question_classifier.py",
        r"^[A-Za-z0-9_\-]{1,64}$",
        "class names of a question classifier; " + NAME_FIELD,
    ),
    Regex("snapagent/nodes/code.py", IDENTIFIER, "input and output names of a code node"),
    Regex(
        "snapagent/nodes/http_request.py",
        r"^\{\{\s*([^\W\d]\w*)\s*\}\}$",
        "an http_request node's body template (is it one whole variable?)",
        pumps=("{{ ", " ", "{{ a", "a"),
    ),
    Regex(
        "snapagent/nodes/http_request.py",
        r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$",
        "header names of an http_request node",
    ),
    Regex(
        "snapagent/nodes/agent_tools/config.py",
        r"\{([A-Za-z_][A-Za-z0-9_]{0,63})\}",
        "the URL of an agent's HTTP tool ({argument} placeholders); " + NAME_FIELD,
        pumps=("{", "{a", "{a}", "}"),
    ),
    Regex(
        "snapagent/nodes/agent_tools/config.py",
        r"^([A-Za-z][A-Za-z0-9_-]*)?$",
        "the name prefix of an agent's MCP tool; " + NAME_FIELD,
    ),
    Regex(
        "snapagent/nodes/agent_tools/schemas.py",
        r"^[A-Za-z][A-Za-z0-9_-]{0,63}$",
        "the tool names of an agent node",
    ),
    Regex(
        "snapagent/nodes/agent_tools/schemas.py",
        r"[^A-Za-z0-9_-]",
        "tool names an MCP server lists (made provider-safe)",
    ),
    Regex(
        "snapagent/legacy/semantics.py",
        r"\{(?=[{%#])",
        "V1 system prompts, escaped before they become templates",
    ),
    Regex("snapagent/names.py", r"\s+", "every stored name (bots, knowledge bases, keys)"),
    # -- chat text and the offline model ------------------------------------------------------
    Regex(
        "snapagent/nodes/answer.py",
        r"\S+\s*|\s+",
        "text an answer node streams (templated from user values)",
    ),
    Regex(
        "snapagent/llm/extractive.py",
        r"^[ \t]*+(?:question|query|q|질문|문의)[ \t]*+[:：][ \t]*+",
        "the last user message of every offline answer (prompt with context)",
        pumps=("\n", " \n", "q\n", "question \n", "q \t"),
    ),
    Regex(
        "snapagent/llm/extractive.py",
        r"^[ \t]*+(?:context|documents?|sources?|참고\s?문서|문서|컨텍스트)[ \t]*+[:：][ \t]*+$",
        "the last user message of every offline answer (prompt with context)",
        pumps=("context:", "context: \n", "문서 ", "참고 "),
    ),
    Regex(
        "snapagent/llm/extractive.py",
        r"[?？]+|[;；]|,\s|\s(?:and|also|plus|as well as)\s"
        r"|그리고|또한|아울러|(?:이고|이며|하고|하며)\s",
        "questions of offline answers (split into parts)",
        pumps=("?", " as well", " and", "이고", ", "),
    ),
    Regex("snapagent/llm/offline.py", r"\S+\s*|\s+", "every offline answer, split to stream"),
    Regex(
        "snapagent/llm/relevance.py",
        r"[0-9a-z]+|[가-힣]+|[\u4e00-\u9fff\u3040-\u30ff]+",
        "questions and retrieved documents (relevance features)",
    ),
    Regex("snapagent/llm/relevance.py", r"[가-힣]", "questions (language detection)"),
    Regex(
        "snapagent/llm/tokens.py",
        "[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f\u3040-\u30ff\u4e00-\u9fff]",
        "every prompt the offline model estimates (one character class, no repetition)",
    ),
    Regex(
        "snapagent/llm/sentences.py",
        r"(?<![.!?。！？])[.!?。！？]++[\"'”’)\]]*+(?=\s)",
        "paragraphs of documents and prompts (sentence ends)",
        pumps=(". ", ".\n", "!", ".)", '."', "?!"),
    ),
    Regex(
        "snapagent/llm/sentences.py",
        r"(?<![ \t])[ \t]*+(?:[-*+•·▪]|\d{1,3}[.)])[ \t]++",
        "each line of documents and prompts (list items)",
        pumps=("1", " 1", "- ", " \t", "12"),
    ),
    Regex(
        "snapagent/llm/sentences.py",
        r"!?\[([^\[\]\n]{0,300})\]\([^()\s]{0,500}\)",
        "paragraphs of documents and prompts (Markdown links)",
        pumps=("[", "[a](", "![a]", "](", "[a]("),
    ),
    Regex(
        "snapagent/llm/sentences.py",
        r"</?[A-Za-z][A-Za-z0-9-]{0,20}(?:\s[^<>\n]{0,300})?/?>",
        "paragraphs of documents and prompts (HTML tags)",
        pumps=("<a ", "</a", "<a b", "<a/"),
    ),
    Regex("snapagent/llm/sentences.py", r"\*\*|`+|~~", "paragraphs (emphasis and code marks)"),
    Regex(
        "snapagent/llm/offline_tools.py",
        r"(?<![\w.])-?\d+(?:[.,]\d+)?(?![\w])",
        "user messages (numbers for extracted parameters)",
        pumps=("1.", "1,", "-1", "1a"),
    ),
    Regex(
        "snapagent/llm/offline_tools.py",
        r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+",
        "user messages (emails for extracted parameters)",
        pumps=("a", "a.", "a+", "a@a", "a@a."),
    ),
    Regex(
        "snapagent/llm/offline_tools.py",
        r"https?://[^\s<>\"']+",
        "user messages (URLs)",
        pumps=("http://", "https://a"),
    ),
    Regex(
        "snapagent/llm/offline_tools.py",
        r"\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4}|\d{4}년\s*\d{1,2}월\s*\d{1,2}일",
        "user messages (dates)",
        pumps=("1234-", "12/", "2024년 "),
    ),
    Regex(
        "snapagent/llm/offline_tools.py",
        r"\+?\d[\d\s().-]{6,}\d",
        "user messages (phone numbers)",
        pumps=("1(", "1 ", "+1", "1-", "((", "1)"),
    ),
    Regex("snapagent/llm/offline_tools.py", r"[_\-]+", "schema property names"),
    Regex(
        "snapagent/llm/offline_tools.py",
        r"<f'\\b{label}\\b\\s*(?:[:=]|\\bis\\b|\\bare\\b|\\bwas\\b)\\s*(.+?)(?:[,;\\n]|\\.\\s|\\.$|$)'>",
        "user messages, searched for 'property: value'",
        pumps=("delivery date", "delivery date: ", "delivery  date is ", "delivery_"),
        build=_labelled_pattern,
    ),
    Regex("snapagent/llm/offline_tools.py", r"\w+", "user messages (words)"),
    Regex("snapagent/llm/offline_tools.py", r"[\w']+", "user messages (words)"),
    Regex(
        "snapagent/llm/errors.py",
        r"\b(?:sk-[A-Za-z0-9_\-*]{6,}|AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16})"
        r"|(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])",
        "provider error messages, which can quote the request (redaction)",
        pumps=("sk-", "AKIA", "a/", "a" * 39 + " "),
    ),
    # -- logs ----------------------------------------------------------------------------------
    Regex(
        "snapagent/observability/logging.py",
        r"\bsa_[0-9a-fA-F]+_[A-Za-z0-9_\-]+",
        LOG_LINE,
        pumps=("sa_", "sa_a", " sa_1"),
    ),
    Regex(
        "snapagent/observability/logging.py",
        r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*",
        LOG_LINE,
        pumps=("eyJ", " eyJa.", "eyJa.a"),
    ),
    Regex(
        "snapagent/observability/logging.py",
        r"\bsk-[A-Za-z0-9_\-*]{6,}",
        LOG_LINE,
        pumps=(" sk-", "sk-a"),
    ),
    Regex(
        "snapagent/observability/logging.py",
        r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
        LOG_LINE,
        pumps=(" AKIA", "AKIAA"),
    ),
    Regex(
        "snapagent/observability/logging.py",
        r"(?i)(?<=bearer )[^\s\"',]+",
        LOG_LINE,
        pumps=("bearer ", "Bearer a"),
    ),
    Regex(
        "snapagent/observability/logging.py",
        r"(?i)((?:password|passwd|secret|api_key|apikey|token)[\"']?\s*[:=]\s*)"
        r"(?:\"[^\"]*\"|'[^']*'|[^\s\"',&}]+)",
        LOG_LINE,
        pumps=("token", "token ", 'token="', "token='", "token=", "password: "),
    ),
    Regex(
        "snapagent/observability/logging.py",
        r"(?<=://)([^:/@\s]+:)[^@/\s]+(?=@)",
        LOG_LINE,
        pumps=("://", "://a:", "a:", "://a:b"),
    ),
    # -- uploaded documents --------------------------------------------------------------------
    Regex(
        "snapagent/knowledge/parsing.py",
        rb"^\s*+(?:<!--(?:(?!-->).)*+-->\s*+)*+<(!doctype\s+html|html|head|body)\b",
        "the first 4 KiB of every upload (format sniffing, on the request path)",
        pumps=("<!---->", "<!-- -->", "<!--", "-->", "<!---->\n", "<!-- --> "),
    ),
    Regex(
        "snapagent/knowledge/parsing.py",
        r"[\x00-\x08\x0e-\x1f\x7f\ufeff\u200b\ufffe\uffff]",
        "the text of every parsed document",
    ),
    Regex(
        "snapagent/knowledge/parsing.py",
        r"\r\n?|[\x0b\x0c\u2028\u2029\x85]",
        "the text of every parsed document",
    ),
    Regex("snapagent/knowledge/parsing.py", r"[ \t\u00a0\u3000]+", "every parsed document line"),
    Regex(
        "snapagent/knowledge/formats/markup.py",
        r"\n[ \t]*\n",
        "text, Markdown and HTML files",
        pumps=("\n ", "\n\t", " "),
    ),
    Regex("snapagent/knowledge/formats/markup.py", r"\s+", "HTML text"),
    Regex("snapagent/knowledge/formats/pdf.py", r"\n[ \t]*\n", "PDF page text", pumps=("\n ", " ")),
    Regex(
        "snapagent/knowledge/formats/office.py",
        r"^heading\s*(\d)$",
        "paragraph style names of DOCX files",
        pumps=("heading ", " "),
    ),
    Regex("snapagent/knowledge/chunking.py", r"\S(?=\s)|\S$", "every parsed document (chunking)"),
    Regex(
        "snapagent/knowledge/chunking.py",
        r"(?<=[.!?。！？…])[\"'”’»)\]]*\s+|(?<=[\uac00-\ud7a3][.!?])(?=[\uac00-\ud7a3A-Za-z\"'“‘(])|\n+",
        "every parsed document (sentence breaks)",
        pumps=('."', '."""', ".)", "가.", "가.가", '"', "."),
    ),
    Regex(
        "snapagent/knowledge/tokenize.py",
        "<f'[{_CJK}]+|[^\\\\W_{_CJK}]+'>",
        "documents and queries (BM25 terms)",
        build=_tokenize_token,
    ),
    Regex(
        "snapagent/knowledge/tokenize.py",
        "<f'[{_CJK}]'>",
        "documents and queries (BM25 terms)",
        build=_tokenize_cjk,
    ),
    Regex(
        "snapagent/knowledge/fusion.py",
        "[\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff]",
        "queries (script detection)",
    ),
    Regex("snapagent/knowledge/fusion.py", "[\u3040-\u30ff\u31f0-\u31ff]", "queries"),
    Regex("snapagent/knowledge/fusion.py", "[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]", "queries"),
    Regex("snapagent/knowledge/fusion.py", "[\u0400-\u04ff]", "queries"),
    Regex("snapagent/knowledge/fusion.py", "[A-Za-z\u00c0-\u024f]", "queries"),
    # -- imported bot files (Dify DSL, SnapAgent YAML; up to SNAPAGENT_IMPORT_MAX_BYTES) ------
    Regex(
        "snapagent/interop/dify/model_config.py",
        r"\{\{([a-zA-Z_][a-zA-Z0-9_]*)\}\}|\{\{#(context|query|histories)#\}\}",
        "prompts of an imported Dify app",
        pumps=("{{a", "{{#context", "{{#"),
    ),
    Regex(
        "snapagent/interop/dify/nodes_tools.py",
        r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$",
        "HTTP header names of an imported Dify app",
    ),
    Regex(
        "snapagent/interop/dify/nodes_tools.py",
        r"^[^\W\d]\w*$",
        "tool parameter names of an imported Dify app",
        pumps=("a", "a1"),
    ),
    Regex(
        "snapagent/interop/dify/reader.py",
        r"^\s*(\d+)\.(\d+)(?:\.(\d+))?",
        "the DSL version of an imported file",
        pumps=(" ", "1", "1."),
    ),
    Regex(
        "snapagent/interop/dify/references.py",
        r"\{\{#([a-zA-Z0-9_]{1,50}(?:\.[a-zA-Z_][a-zA-Z0-9_]{0,29}){1,10}|context)#\}\}",
        "every text of an imported Dify app (variable references)",
        pumps=("{{#a", "{{#a.b", ".a", "{{#a.b.c.d.e.f.g.h.i.j.k"),
    ),
    Regex(
        "snapagent/interop/dify/references.py",
        r"\{[{%#]",
        "every text of an imported Dify app (literal Jinja delimiters)",
    ),
    Regex(
        "snapagent/interop/dify/templates_out.py",
        r"\{\{\s*'(\{[{%#])'\s*\}\}|\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}",
        "templates of a bot exported to Dify (the owner's own graph)",
        pumps=("{{ ", "{{ '{", "{{ a", "{{ a "),
    ),
    Regex(
        "snapagent/interop/dify/templates_out.py",
        r"\{[{%#]",
        "templates of a bot exported to Dify",
    ),
    Regex("snapagent/interop/names.py", r"[^A-Za-z0-9_]+", "names in an imported file"),
    Regex("snapagent/api/mcp_tools.py", r"[^a-z0-9]+", "a bot's name (its MCP tool name)"),
    Regex("snapagent/api/openapi.py", r"[^A-Za-z0-9]+", "a node type key (its schema name)"),
    Regex(
        "snapagent/services/bot_transfer.py",
        r"[^A-Za-z0-9._-]+",
        "a bot's name (the export file name)",
    ),
    # -- operator-only input (timed all the same) ----------------------------------------------
    Regex(
        "snapagent/cli/config.py",
        r"^class (\w+)\([^)]*\bBaseSettings\b[^)]*\):",
        "our own source files (snapagent config check); no user input",
        pumps=("class A(", "class A(BaseSettings"),
    ),
    Regex("snapagent/testing/postgres.py", "[a-z_][a-z0-9_]{0,62}", "test database names"),
    Regex("snapagent/testing/retriever.py", r"\w+", "the in-memory test retriever"),
)

EXEMPT = {
    ("snapagent/testing/regex_growth.py", "<source>"): "the timing helper of this very test",
    (
        "snapagent/testing/regex_growth.py",
        "<_BASELINE.encode() if binary else _BASELINE>",
    ): "its linear baseline",
}
"""Patterns that are not applied to any input of their own."""
