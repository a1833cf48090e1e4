"""Template attacks on a real `snapagent serve` (``SNAPAGENT_TEMPLATE_TIMEOUT_S=1``).

A registered user publishes a bot whose template (template, llm, answer or http_request node)
loops for ever, computes huge integers, builds huge strings through operators, filters and
methods, recurses through macros - or whose template turns the *chat message* into one of
those. Each chat must end quickly with the node's failure recorded and named (the deadline is
the node's ``timeout_s`` when shorter than the server's), while ``/health`` keeps answering
within 200 ms; a plain prompt of another bot stays fast during a flood of such renders, because
substitution-only templates never wait for a worker. Long templates (seconds of Jinja parsing)
are read by the reader's worker, never by the server, within ``SNAPAGENT_TEMPLATE_READ_TIMEOUT_S``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from snapagent.jinja import read_template

from .attack import AttackServer, HealthProbe, attack_server, publish, register

TEMPLATE_TIMEOUT_S = 1.0
READ_TIMEOUT_S = 3.0
MARGIN_S = 2.5
"""Deadline + this: reporting, killing the worker and starting the next one on a loaded
2-core machine."""
FOREVER = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"


def graph(node: dict[str, Any], output: str = "text") -> dict[str, Any]:
    """start -> ``node`` (id ``t``, reading ``query``) -> end."""
    node = {"id": "t", "inputs": {"query": {"selector": ["start", "query"]}}, **node}
    return {
        "nodes": [
            {"id": "start", "type": "start"},
            node,
            {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
        ],
        "edges": [
            {"source": "start", "target": "t"},
            {"source": "t", "source_port": output, "target": "end", "target_port": "answer"},
        ],
    }


def template(source: str, **settings: Any) -> dict[str, Any]:
    """A template node; one that does not read the message still gets it wired (as nothing)."""
    text = source if "query" in source else "{{ query[:0] }}" + source
    return graph({"type": "template", "config": {"template": text}, **settings})


ATTACKS: dict[str, tuple[dict[str, Any], str, str]] = {
    # name: (graph, chat message, what the recorded error says)
    "nested-loops": (template(FOREVER), "hi", "took longer than 1 s"),
    "macro-fan-out": (
        template(
            "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}"
        ),
        "hi",
        "took longer than 1 s",
    ),
    "macro-recursion": (
        template("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"),
        "hi",
        "recursed too deeply",
    ),
    "power-tower": (template("{{ 9 ** (9 ** 9) }}"), "hi", "over a limit"),
    "string-product": (template("{{ 'x' * 10 ** 9 }}"), "hi", "over a limit"),
    "message-sized-product": (template("{{ 'x' * (query|int) }}"), "1000000000", "over a limit"),
    "message-times-itself": (
        template("{% set q = query * 100000 %}{{ q * 100000 }}"),
        "abc",
        "over a limit",
    ),
    "doubling-loop": (
        template(
            "{% set ns = namespace(s='x') %}{% for i in range(64) %}"
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}"
        ),
        "hi",
        "over a limit",
    ),
    "center": (template("{{ 'x'|center(10 ** 9) }}"), "hi", "over a limit"),
    "format": (template("{{ '%999999999s'|format('x') }}"), "hi", "over a limit"),
    "percent-star": (template("{{ '%*s' % (query|int, 'x') }}"), "999999999", "over a limit"),
    "str-format": (template("{{ '{:>{w}}'.format('x', w=10 ** 9) }}"), "hi", "over a limit"),
    "tojson-indent": (
        template("{{ ([[1, [2]]] * 1000)|tojson(indent=10 ** 6) }}"),
        "hi",
        "over a limit",
    ),
    "translate": (
        template("{{ (query * 1000).translate({104: 'y' * 100000}) }}"),
        "hi",
        "over a limit",
    ),
    "list-sum": (template("{{ ([[1] * 50000] * 50)|sum(start=[]) }}"), "hi", "over a limit"),
    # Past every check on one value, the worker's memory limit: 1,000 strings of 900,000
    # characters each, every one within the limits, hold 900 MB together.
    "memory": (
        template(
            "{% set s = 'x' * 900000 %}{% set ns = namespace(l=[]) %}"
            "{% for i in range(1000) %}{% set ns.l = ns.l + [s ~ i] %}{% endfor %}{{ ns.l|length }}"
        ),
        "hi",
        "needed more than 256 MiB",
    ),
    "indent": (template("{{ ('a\\n' * 1000)|indent(10 ** 6) }}"), "hi", "over a limit"),
    "wordwrap": (
        template("{{ ('a ' * 10000)|wordwrap(1, wrapstring='x' * 10000) }}"),
        "hi",
        "over a limit",
    ),
    "join": (template("{{ (['x' * 900000] * 5)|join }}"), "hi", "over a limit"),
    "replace": (template("{{ query|replace('', 'x' * 500000) }}"), "hello", "over a limit"),
    "ljust": (template("{{ query.ljust(10 ** 9) }}"), "hi", "over a limit"),
    "batch-fill": (template("{{ [1]|batch(10 ** 9, 0)|list }}"), "hi", "over a limit"),
    "captured-block": (
        template(
            "{% set x %}{% for i in range(100000) %}{{ 'y' * 5000 }}{% endfor %}{% endset %}"
            "{{ x|length }}"
        ),
        "hi",
        "over a limit",
    ),
    "llm-prompt": (
        graph({"type": "llm", "config": {"model": "offline", "prompt": FOREVER + "{{ query }}"}}),
        "hi",
        "took longer than 1 s",
    ),
    "answer-node": (
        graph({"type": "answer", "config": {"answer": "{{ query }}{{ 'x' * 10 ** 9 }}"}}),
        "hi",
        "over a limit",
    ),
    "http-request-url": (
        graph(
            {
                "type": "http_request",
                "config": {"url": "https://example.com/{{ query }}{{ 'x'|center(10 ** 9) }}"},
            },
            output="body",
        ),
        "hi",
        "over a limit",
    ),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AttackServer]:
    with attack_server(
        tmp_path_factory.mktemp("template-attacks"),
        SNAPAGENT_TEMPLATE_TIMEOUT_S=str(TEMPLATE_TIMEOUT_S),
        SNAPAGENT_TEMPLATE_READ_TIMEOUT_S=str(READ_TIMEOUT_S),
    ) as running:
        yield running


@pytest.fixture(scope="module")
def headers(server: AttackServer) -> dict[str, str]:
    return register(server, "templater@example.com")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` itself (not its workers)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _chat(http: httpx.AsyncClient, bot_id: str, message: str) -> tuple[httpx.Response, float]:
    began = time.perf_counter()
    response = await http.post("/api/v1/chat", json={"bot_id": bot_id, "message": message})
    return response, time.perf_counter() - began


async def _assert_failure_recorded(http: httpx.AsyncClient, bot_id: str, reason: str) -> None:
    runs = (await http.get(f"/api/v1/bots/{bot_id}/workflow-executions")).json()["data"]
    assert runs, "the run was not recorded"
    assert runs[0]["status"] == "failed"
    assert reason in runs[0]["error"], runs[0]["error"]


@pytest.mark.parametrize("attack", sorted(ATTACKS))
async def test_a_hostile_template_fails_its_node_in_time(
    server: AttackServer, headers: dict[str, str], attack: str
) -> None:
    bot_graph, message, reason = ATTACKS[attack]
    bot_id = publish(server, headers, bot_graph)
    async with httpx.AsyncClient(base_url=server.base, headers=headers, timeout=60) as http:
        async with HealthProbe(server.base) as probe:
            began = time.perf_counter()
            for sent in range(20):  # at least 2 (the second after the first killed its worker),
                if sent >= 2 and time.perf_counter() - began > 1.0:  # for at least a second
                    break
                response, elapsed = await _chat(http, bot_id, message)
                assert 400 <= response.status_code < 600, response.text
                assert response.headers["content-type"].startswith("application/problem+json")
                assert reason in response.json()["detail"], response.text
                assert elapsed < TEMPLATE_TIMEOUT_S + MARGIN_S, f"answered after {elapsed:.2f} s"
        probe.assert_responsive()
        await _assert_failure_recorded(http, bot_id, reason)


async def test_the_nodes_own_timeout_stops_the_render_sooner(
    server: AttackServer, headers: dict[str, str]
) -> None:
    bot_id = publish(server, headers, template(FOREVER, timeout_s=0.3))
    async with httpx.AsyncClient(base_url=server.base, headers=headers, timeout=60) as http:
        async with HealthProbe(server.base) as probe:
            response, elapsed = await _chat(http, bot_id, "hi")
        probe.assert_responsive()
        assert response.status_code == 504, response.text
        assert "timed out after 0.3 s" in response.json()["detail"]
        assert elapsed < 0.3 + MARGIN_S
        await _assert_failure_recorded(http, bot_id, "timed out after 0.3 s")


async def test_plain_prompts_stay_fast_during_a_flood_of_hostile_renders(
    server: AttackServer, headers: dict[str, str]
) -> None:
    hostile = publish(server, headers, template(FOREVER))
    plain = publish(server, headers, template("Question: {{ query }}"))
    async with httpx.AsyncClient(base_url=server.base, headers=headers, timeout=120) as http:
        async with HealthProbe(server.base) as probe:
            # Three times as many endless renders as there are workers (2), all at once.
            flood = [asyncio.create_task(_chat(http, hostile, "hi")) for _ in range(6)]
            await asyncio.sleep(0.2)
            answers = [await _chat(http, plain, f"q{n}") for n in range(5)]
            floods = await asyncio.gather(*flood)
        probe.assert_responsive()
    for response, elapsed in answers:
        assert response.status_code == 200, response.text
        assert response.json()["answer"].startswith("Question: q")
        assert elapsed < 1.0, f"a plain prompt waited {elapsed:.2f} s behind the flood"
    for response, _elapsed in floods:
        assert response.status_code == 504, response.text


async def test_template_syntax_errors_point_at_the_field(
    server: AttackServer, headers: dict[str, str]
) -> None:
    with pytest.raises(httpx.HTTPStatusError) as refused:
        publish(server, headers, template("{% for x in %}"))
    assert refused.value.response.status_code == 422
    problems = refused.value.response.json()["problems"]
    assert [p["path"] for p in problems] == ["nodes[1].config.template"]
    assert "syntax error" in problems[0]["message"]


async def test_long_templates_are_read_off_the_server(
    server: AttackServer, headers: dict[str, str]
) -> None:
    """Three prompts of 100,000 characters of tags each (seconds of Jinja parsing), validated
    by two requests at once: the server waits for the reader's worker and spends a fraction of
    the CPU reading them takes (measured here, in this process, as the baseline)."""
    tags = "{{ query }}" + "{% if query %}.{% endif %}" * 3_800
    nodes = [
        {"id": f"t{n}", "type": "template", "config": {"template": tags[: 100_000 - n]},
         "inputs": {"query": {"selector": ["start", "query"]}}}
        for n in range(3)
    ]  # fmt: skip
    bot_graph = template("{{ query }}")
    bot_graph["nodes"][1:1] = nodes
    bot_graph["edges"] += [{"source": "start", "target": node["id"]} for node in nodes]
    bot_id = publish(server, headers, template("{{ query }}"))
    versions = f"/api/v1/bots/{bot_id}/workflow-versions"
    cpu_began = time.process_time()
    read_template(tags)
    parse_cpu_s = 3 * (time.process_time() - cpu_began)  # at least three different templates
    async with httpx.AsyncClient(base_url=server.base, headers=headers, timeout=120) as http:
        async with HealthProbe(server.base) as probe:
            server_cpu_began = _cpu_s(server.server.process.pid)
            began = time.perf_counter()
            reports = await asyncio.gather(
                *(http.post(f"{versions}/validate", json={"graph": bot_graph}) for _ in range(2))
            )
            elapsed = time.perf_counter() - began
            server_cpu_s = _cpu_s(server.server.process.pid) - server_cpu_began
        probe.assert_responsive()
    assert server_cpu_s < parse_cpu_s / 2, (server_cpu_s, parse_cpu_s)
    for report in reports:
        assert report.status_code == 200, report.text
        problems = report.json()["problems"]
        # Read within the deadline (valid), or refused at the template's field if the machine
        # is too busy to parse 100,000 characters in READ_TIMEOUT_S - never the server's time.
        assert all(p["path"].endswith(".config.template") for p in problems), problems
        assert all("to read" in p["message"] for p in problems), problems
    assert elapsed < 2 * 3 * READ_TIMEOUT_S + MARGIN_S, f"validation took {elapsed:.2f} s"
