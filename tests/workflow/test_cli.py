"""`snapagent run-workflow` through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from snapagent.cli import app
from snapagent.cli.workflow import cli_system_values, parse_inputs
from snapagent.errors import InputValidationError
from snapagent.services.system_values import SYSTEM_VALUES, RunKind, system_value_names
from snapagent.testing.documents import pdf_bytes as make_pdf

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


def write(tmp_path: Path, data: Any, name: str = "graph.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_runs_an_example_and_prints_outputs_and_timings() -> None:
    result = runner.invoke(
        app,
        [
            "run-workflow",
            str(EXAMPLES / "greeting_router.json"),
            "--input",
            "query=hello there",
            "-i",
            "name=Ada",
        ],
    )
    assert result.exit_code == 0, result.output
    assert '"answer": "Hello, Ada! How can I help?"' in result.stdout
    for column in ("node", "status", "ms"):
        assert column in result.stdout
    assert "skipped" in result.stdout  # the echo branch


def test_rag_example_answers_from_a_loaded_document(tmp_path: Path) -> None:
    doc = write(
        tmp_path, "SnapAgent stores workflows as versioned graphs.\n\nBananas are yellow.", "a.txt"
    )
    result = runner.invoke(
        app,
        [
            "run-workflow",
            str(EXAMPLES / "rag_pipeline.json"),
            "-i",
            "query=What are SnapAgent workflows stored as?",
            "--doc",
            str(doc),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "versioned graphs" in result.stdout
    assert "Bananas" not in result.stdout.split("outputs:")[1]


def test_a_pdf_doc_is_parsed_like_an_upload(tmp_path: Path) -> None:
    pdf = tmp_path / "handbook.pdf"
    pdf.write_bytes(make_pdf([["SnapAgent stores workflows as versioned graphs."], ["Bananas."]]))
    result = runner.invoke(
        app,
        [
            "run-workflow",
            str(EXAMPLES / "rag_pipeline.json"),
            "-i",
            "query=What are SnapAgent workflows stored as?",
            "--doc",
            str(pdf),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "versioned graphs" in result.stdout.split("outputs:")[1]


def test_a_doc_that_cannot_be_parsed_says_why(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7 truncated")
    result = runner.invoke(
        app,
        [
            "run-workflow",
            str(EXAMPLES / "rag_pipeline.json"),
            "-i",
            "query=x",
            "--doc",
            str(broken),
        ],
    )
    assert result.exit_code == 2
    assert f"--doc {broken}: cannot read 'broken.pdf'" in " ".join(result.stderr.split())
    assert "codec" not in result.output


def test_events_are_printed_as_json_lines() -> None:
    result = runner.invoke(
        app,
        ["run-workflow", str(EXAMPLES / "greeting_router.json"), "-i", "query=why?", "--events"],
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"')]
    kinds = [line["event"] for line in lines]
    assert kinds[0] == "run_started"
    assert kinds[-1] == "run_finished"
    assert {"node_run_started", "node_run_succeeded", "node_run_skipped"} <= set(kinds)
    assert lines[-1]["result"]["status"] == "succeeded"


def test_invalid_graph_prints_every_problem(tmp_path: Path) -> None:
    graph = {
        "nodes": [
            {"id": "start", "type": "start"},
            {"id": "x", "type": "nope"},
            {"id": "t", "type": "template", "config": {"template": "{{ a }}"}},
        ],
        "edges": [{"source": "start", "source_port": "query", "target": "t", "target_port": "b"}],
    }
    result = runner.invoke(app, ["run-workflow", str(write(tmp_path, graph)), "-i", "query=q"])
    assert result.exit_code == 2
    for code in ("no_end_node", "unknown_node_type", "unknown_port", "missing_required_input"):
        assert code in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "not valid JSON"), ('{"nodes": [{"id": 3}]}', "not a workflow graph")],
)
def test_bad_files_give_clear_errors(tmp_path: Path, content: str, message: str) -> None:
    result = runner.invoke(app, ["run-workflow", str(write(tmp_path, content))])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run-workflow", str(tmp_path / "none.json")])
    assert result.exit_code == 2
    assert "no such file" in result.stderr


def test_bad_input_argument() -> None:
    result = runner.invoke(
        app, ["run-workflow", str(EXAMPLES / "greeting_router.json"), "-i", "novalue"]
    )
    assert result.exit_code == 2
    assert "key=value" in result.stderr


def test_failed_run_exits_one(tmp_path: Path) -> None:
    graph = {
        "nodes": [
            {
                "id": "start",
                "type": "start",
                "config": {"inputs": [{"name": "limit", "type": "integer"}]},
            },
            {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
        ],
        "edges": [
            {"source": "start", "source_port": "limit", "target": "end", "target_port": "answer"}
        ],
    }
    result = runner.invoke(app, ["run-workflow", str(write(tmp_path, graph)), "-i", "limit=many"])
    assert result.exit_code == 1
    assert "must be integer" in result.stderr
    ok = runner.invoke(app, ["run-workflow", str(write(tmp_path, graph)), "-i", "limit=3"])
    assert ok.exit_code == 0
    assert '"answer": 3' in ok.stdout


def test_parse_inputs() -> None:
    assert parse_inputs(["query=a=b", 'history=[{"role": "user", "content": "hi"}]']) == {
        "query": "a=b",
        "history": [{"role": "user", "content": "hi"}],
    }
    with pytest.raises(InputValidationError, match="not valid JSON"):
        parse_inputs(["history=[oops"])


@pytest.mark.parametrize(
    ("query", "answer", "team"),
    [
        ("I was charged twice on invoice 4471", "Billing team: we will check invoice 4471.",
         "billing, invoices, payments and refunds"),
        ("Where is your office?", "Front desk: we will route your message.", "anything else"),
    ],
)  # fmt: skip
def test_classifier_router_example_routes_offline(query: str, answer: str, team: str) -> None:
    result = runner.invoke(
        app, ["run-workflow", str(EXAMPLES / "classifier_router.json"), "-i", f"query={query}"]
    )
    assert result.exit_code == 0, result.output
    outputs = json.loads(result.stdout[result.stdout.index("{") :])
    assert outputs == {"answer": answer, "team": team}


def test_files_are_attached_and_read_out_of_process(tmp_path: Path) -> None:
    graph = {
        "nodes": [
            {"id": "start", "type": "start"},
            {"id": "read", "type": "document_extractor",
             "inputs": {"files": {"selector": ["sys", "files"]}}},
            {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
        ],
        "edges": [
            {"source": "start", "target": "read"},
            {"source": "read", "source_port": "text", "target": "end", "target_port": "answer"},
        ],
    }  # fmt: skip
    notes = write(tmp_path, "# Notes\n\nThe office opens at nine.", "notes.md")
    result = runner.invoke(app, ["run-workflow", str(write(tmp_path, graph)), "--file", str(notes)])
    assert result.exit_code == 0, result.output
    outputs = json.loads(result.stdout[result.stdout.index("{") :])
    assert "The office opens at nine." in outputs["answer"]
    missing = runner.invoke(
        app, ["run-workflow", str(write(tmp_path, graph)), "--file", str(tmp_path / "nope.pdf")]
    )
    assert missing.exit_code != 0
    assert "nope.pdf" in missing.output


def test_iteration_example_summarises_each_document() -> None:
    documents = json.dumps(
        [
            "SnapAgent runs as a container. It is deployed on ECS behind a load balancer.",
            "Bananas are yellow.",
        ]
    )
    result = runner.invoke(
        app,
        [
            "run-workflow",
            str(EXAMPLES / "iteration_summaries.json"),
            "-i",
            "query=How is it deployed?",
            "-i",
            f"documents={documents}",
        ],
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout[result.stdout.index("{") :])["answer"]
    lines = answer.splitlines()
    assert lines[0] == "Summaries for: How is it deployed?"
    assert "deployed on ECS" in answer
    assert any(line.startswith("2. ") for line in lines)
    assert "summarise (each 1)" in result.stdout  # body nodes are in the table, per item


def reading_sys(*names: str) -> dict[str, Any]:
    """A graph whose end node outputs ``sys.<name>`` for each name (each a required input)."""
    return {
        "nodes": [
            {"id": "start", "type": "start"},
            {"id": "end", "type": "end", "config": {"outputs": list(names)},
             "inputs": {n: {"selector": ["sys", n]} for n in names}},
        ],
        "edges": [{"source": "start", "target": "end"}],
    }  # fmt: skip


def test_a_run_gets_a_chat_turns_sys_values(tmp_path: Path) -> None:
    chat = sorted(system_value_names(RunKind.CHAT))
    graph = str(write(tmp_path, reading_sys(*chat)))
    notes = write(tmp_path, "hello", "notes.txt")
    result = runner.invoke(app, ["run-workflow", graph, "--file", str(notes)])
    assert result.exit_code == 0, result.output
    outputs = json.loads(result.stdout[result.stdout.index("{") :])
    assert set(outputs) == set(chat)
    assert outputs["run_id"] in result.stdout.split("outputs:")[0]  # the table's run id
    assert (outputs["bot_id"], outputs["user_id"], outputs["owner_id"]) == ("cli",) * 3
    assert outputs["default_model"] is None  # a bot without one: the provider's default
    assert [f["name"] for f in outputs["files"]] == ["notes.txt"]

    named = ["--sys", "bot_id=support", "--sys", "owner_id=u1", "--sys", "default_model=m1"]
    result = runner.invoke(app, ["run-workflow", graph, *named, "--sys", "user_id=ada"])
    assert result.exit_code == 0, result.output
    outputs = json.loads(result.stdout[result.stdout.index("{") :])
    assert [outputs[n] for n in ("bot_id", "owner_id", "default_model", "user_id")] == [
        "support", "u1", "m1", "ada"
    ]  # fmt: skip


@pytest.mark.parametrize(
    "name", sorted(v.name for v in SYSTEM_VALUES if RunKind.CHAT not in v.runs)
)
def test_a_value_only_bot_calls_get_fails_the_run_naming_it(tmp_path: Path, name: str) -> None:
    result = runner.invoke(app, ["run-workflow", str(write(tmp_path, reading_sys(name)))])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    message = " ".join(result.stderr.split())
    assert f"node 'end' reads sys.{name}, which this run does not have (it has: bot_id," in message


@pytest.mark.parametrize("pair", ["call_depth=2", "run_id=r1", "files=[]", "bot_id", "=x"])
def test_sys_values_a_caller_cannot_set_are_refused(tmp_path: Path, pair: str) -> None:
    graph = str(write(tmp_path, reading_sys("bot_id")))
    result = runner.invoke(app, ["run-workflow", graph, "--sys", pair])
    assert result.exit_code == 2
    assert "NAME one of bot_id, default_model, owner_id, user_id" in " ".join(result.stderr.split())
    with pytest.raises(InputValidationError, match="run_id is generated"):
        cli_system_values([pair], [])
