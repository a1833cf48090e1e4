"""Sentence relevance for the offline answerer: score sentences against a question by weighted
feature overlap. Works for English and Korean without a tokenizer model (sentences come from
`snapagent.llm.sentences`).

Features: English words are lower-cased, stop words dropped and truncated to six letters (a
crude stemmer: "deployment"/"deployed" -> "deploy"). Korean words lose a trailing particle or
verb ending ("배포는" -> "배포", "설치합니다" -> "설치") and become character bigrams, which
match across the spacing and inflection that make word matching fail in agglutinative text.
Each feature is weighted by its rarity among the candidate sentences (a smoothed idf).

    scorer = RelevanceScorer(["Install with pip.", "The sky is blue."])
    scorer.score("How do I install it?")   # -> [0.8..., 0.0]
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence, Set

__all__ = ["RelevanceScorer", "features", "has_hangul"]

_TOKEN = re.compile(r"[0-9a-z]+|[가-힣]+|[\u4e00-\u9fff\u3040-\u30ff]+")
_HANGUL = re.compile(r"[가-힣]")

# Word lists are kept as text for readability; split once at import.
_EN_STOP_WORDS = """a about above after again all also am an and any are as at be because been
before being below between both but by can could did do does doing down during each few for
from further had has have having he her here hers him his how i if in into is it its itself
just me more most my no nor not now of off on once only or other our out over own same she
should so some such than that the their them then there these they this those through to too
under until up very was we were what when where which while who whom why will with would you
your please tell explain describe give know want need"""
_KO_SUFFIX_WORDS = """은 는 이 가 을 를 의 에 에서 에게 께서 한테 으로 로 와 과 도 만 부터 까지 이나
나 랑 이랑 보다 처럼 이란 란 이라는 라는 입니다 합니다 습니다 됩니다 인가요 하나요 되나요 나요
까요 가요 세요 해요 이에요 예요 인지 이다 하다 한다 된다 했다 하는 되는 한 된 할 하면 하려면
려면 하고 해야"""
_KO_STOP_WORDS = """무엇 어떻게 어떤 언제 어디 어디서 누구 누가 왜 얼마 몇 뭐 뭔가 무슨 대해 대한
관해 관한 알려 알려줘 알려주세요 설명 설명해 주세요 그리고 또는 그러나 하지만 이것 그것 저것
있나요 있습니까 있어요 없나요 며칠 몇일 얼마나 어느"""

_EN_STOP = frozenset(_EN_STOP_WORDS.split())
# Longest first, so "에서" is tried before "서"; only stripped when two syllables remain.
_KO_SUFFIXES = tuple(sorted(_KO_SUFFIX_WORDS.split(), key=len, reverse=True))
_KO_SUFFIX_SET = frozenset(_KO_SUFFIXES)  # a word that is only an ending/particle carries nothing
_KO_STOP = frozenset(_KO_STOP_WORDS.split())
_KO_STOP_PREFIXES = tuple(stop for stop in _KO_STOP if len(stop) > 1)


def has_hangul(text: str) -> bool:
    return _HANGUL.search(text) is not None


def _korean_stem(word: str) -> str:
    for suffix in _KO_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 2:
            return word[: -len(suffix)]
    return word


def features(text: str) -> set[str]:
    """The comparable features of ``text`` (see the module docstring)."""
    found: set[str] = set()
    for token in _TOKEN.findall(text.lower()):
        if token.isascii():
            if token in _EN_STOP or (len(token) < 2 and not token.isdigit()):
                continue
            if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
                token = token[:-1]
            found.add("w:" + token[:6])
        elif token in _KO_SUFFIX_SET or token in _KO_STOP or token.startswith(_KO_STOP_PREFIXES):
            continue
        else:
            stem = _korean_stem(token)
            if len(stem) == 1:
                found.add("k:" + stem)
            found.update("k:" + stem[i : i + 2] for i in range(len(stem) - 1))
    return found


class RelevanceScorer:
    """Scores candidate sentences against questions; idf is computed once per candidate set."""

    def __init__(
        self, sentences: Sequence[str], *, analysed: Sequence[Set[str]] | None = None
    ) -> None:
        """``analysed``: the sentences' `features`, when already known (then ``sentences`` is
        not read)."""
        if analysed is None:
            analysed = [features(sentence) for sentence in sentences]
        self._features = analysed
        counts: Counter[str] = Counter()
        for sentence_features in self._features:
            counts.update(sentence_features)
        self._df = counts
        self._n = len(analysed)

    def _idf(self, feature: str) -> float:
        # Smoothed so that a word in *every* candidate still counts: the candidates are what
        # retrieval found for this question, so its topic word is often in all of them.
        # A question word found nowhere weighs like the rarest word found somewhere: it still
        # lowers coverage, but one unmatched word cannot sink an otherwise matching sentence.
        df = max(1, self._df.get(feature, 0))
        return math.log(1 + (self._n + 1) / (df + 0.5))

    def coverage(self, wanted: set[str]) -> float:
        """The share of the (idf-weighted) features in ``wanted`` that some sentence contains:
        how much of the question the candidates talk about at all."""
        weights = {feature: self._idf(feature) for feature in wanted}
        total = sum(weights.values())
        found = sum(w for f, w in weights.items() if self._df.get(f, 0) > 0)
        return found / total if total else 0.0

    def score(self, question: str) -> list[float]:
        """For each sentence: the share of the question's (idf-weighted) features it contains,
        plus a small bonus for density, so a short precise sentence beats a rambling one."""
        return self.score_features(features(question))

    def score_features(self, wanted: set[str]) -> list[float]:
        """`score` for a question already turned into features (e.g. one part of it)."""
        weights = {feature: self._idf(feature) for feature in wanted}
        total = sum(weights.values())
        if total == 0:
            return [0.0] * self._n
        scores = []
        for sentence_features in self._features:
            shared = wanted & sentence_features
            coverage = sum(weights[f] for f in shared) / total
            density = len(shared) / len(sentence_features) if sentence_features else 0.0
            scores.append(coverage + 0.1 * density if shared else 0.0)
        return scores
