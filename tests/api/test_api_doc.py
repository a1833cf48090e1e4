"""docs/api.md and the code agree: every problem type the server can answer with and every
validation code a graph problem can carry is listed there, and nothing listed is made up.

The codes are found in the source (AST, not regular expressions over text): the first argument
of ``ValidationProblem(...)``, ``V1Problem(...)`` and ``_problem(...)``, of ``<analysis>.add(...)``,
a ``"code": "..."`` entry, and the ``code*`` names of ``for`` loops over literal tables. The
problem types are the slugs of the one error table plus every slug given by hand (``slug=``,
``Problem(status, detail, slug)``, ``slug = ...``).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from snapagent.api import errors

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "src" / "snapagent"
DOC = ROOT / "docs" / "api.md"
_CODE = re.compile(r"[a-z][a-z0-9_]*")
_PROBLEM_CALLS = {"ValidationProblem", "V1Problem", "_problem"}
_ANALYSIS_NAMES = {"a", "analysis", "result"}


def _constant(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _codes_in(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            is_add = (
                name == "add"
                and isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id in _ANALYSIS_NAMES
            )
            if name in _PROBLEM_CALLS or is_add:
                code = _constant(node.args[0])
                if code is not None:
                    yield code
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                code = _constant(value)
                if key is not None and _constant(key) == "code" and code and _CODE.fullmatch(code):
                    yield code
        elif isinstance(node, ast.For) and isinstance(node.target, ast.Tuple):
            positions = [
                i
                for i, target in enumerate(node.target.elts)
                if isinstance(target, ast.Name) and target.id.startswith("code")
            ]
            if positions and isinstance(node.iter, ast.Tuple | ast.List):
                for row in node.iter.elts:
                    if isinstance(row, ast.Tuple):
                        yield from filter(None, (_constant(row.elts[i]) for i in positions))


def source_codes() -> set[str]:
    found: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        found.update(_codes_in(ast.parse(path.read_text(encoding="utf-8"))))
    return found


def _assigned_slugs(node: ast.Assign) -> Iterator[str]:
    for target in node.targets:
        if isinstance(target, ast.Name) and target.id == "slug":
            yield from filter(None, [_constant(node.value)])
        elif isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
            for name, value in zip(target.elts, node.value.elts, strict=False):
                if isinstance(name, ast.Name) and name.id == "slug":
                    yield from filter(None, [_constant(value)])


def source_problem_types() -> set[str]:
    found = {slug for _family, _status, slug in errors._FAMILIES}
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assign):  # status, slug = 504, "provider-timeout"
                found.update(_assigned_slugs(node))
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name not in {"Problem", "problem_response"}:
                continue
            slugs = [kw.value for kw in node.keywords if kw.arg == "slug"]
            if name == "Problem" and len(node.args) >= 3:
                slugs.append(node.args[2])
            found.update(filter(None, (_constant(s) for s in slugs)))
    return found


def doc_table(heading: str) -> set[str]:
    """The first-column names (in backticks) of the table under ``heading`` in docs/api.md."""
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    names: set[str] = set()
    started = False
    for line in section.splitlines()[1:]:
        if line.startswith("|"):
            started = True
            match = re.match(r"\| `([^`]+)` \|", line)
            if match:
                names.add(match.group(1))
        elif started:
            break
    return names


def test_the_scan_finds_codes_of_every_kind() -> None:
    # The scanner itself could silently find nothing; each kind of place must yield a code.
    codes = source_codes()
    assert {"cycle", "no_end_node", "schema", "unknown_knowledge_base"} <= codes
    assert {"too_many_nodes", "multiple_end_nodes"} <= codes  # from literal tables


def test_every_validation_code_is_documented_and_none_is_invented() -> None:
    documented = doc_table("### Validation codes")
    assert documented == source_codes(), (
        f"missing from docs/api.md: {sorted(source_codes() - documented)}; "
        f"documented but never produced: {sorted(documented - source_codes())}"
    )


def test_every_problem_type_is_documented_and_none_is_invented() -> None:
    documented = doc_table("| problem type |")
    produced = source_problem_types()
    assert {"internal-error", "not-ready", "provider-timeout"} <= produced
    assert documented == produced, (
        f"missing from docs/api.md: {sorted(produced - documented)}; "
        f"documented but never produced: {sorted(documented - produced)}"
    )
