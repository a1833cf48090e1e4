"""Every bench script starts from the repository root (`python bench/<name>.py --help`: the
shared `_bootstrap` keeps bench/http.py from shadowing the stdlib `http`), has its row in
bench/README.md and a bounded run in `make bench`."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(p.name for p in (ROOT / "bench").glob("[!_]*.py"))
IDIOM = (
    "import _bootstrap  # noqa: F401  (first: bench/http.py must not shadow the stdlib `http`)\n"
    "\n# isort: split\n"
)


def test_every_script_starts_from_the_repository_root() -> None:
    # All at once: each start imports the product (and torch for some); in parallel it is quick.
    procs = {
        name: subprocess.Popen(
            [sys.executable, f"bench/{name}", "--help"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in SCRIPTS
    }
    failed = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=240)
        if proc.returncode != 0 or "usage:" not in out:
            failed[name] = err[-2000:]
    assert failed == {}
    assert "http.py" in SCRIPTS


def test_every_script_imports_the_bootstrap_first() -> None:
    for name in SCRIPTS:
        text = (ROOT / "bench" / name).read_text()
        assert IDIOM in text, name
        before = text.split(IDIOM, 1)[0]
        assert re.findall(r"^(?:import|from) .*", before, re.MULTILINE) == [
            "from __future__ import annotations"
        ], name


def test_every_script_has_a_readme_row_and_a_bounded_make_bench_run() -> None:
    readme = (ROOT / "bench" / "README.md").read_text()
    makefile = (ROOT / "Makefile").read_text()
    runs = makefile.split("BENCH_RUNS :=", 1)[1].split("\n\n", 1)[0]
    for name in SCRIPTS:
        assert re.search(rf"^\| `{re.escape(name)}`", readme, re.MULTILINE), name
        assert f'"{name}' in runs, name
