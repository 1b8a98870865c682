"""Lexical evidence (pure): which key terms of a question a passage contains, in either language.

Works on tokens from the ``Tokenizer`` port, so nothing here depends on an analyser. Within a
language terms match by form; across Korean and English only what is written alike can match:
numbers, Latin-script words ("K2", "DNA") and Korean names, which are romanised (Revised
Romanisation, with the common sound changes) and compared with English words by character
trigrams, so "Wang Geon" finds 왕건 and "Hallasan" finds 한라산. Foreign names written in Hangul
(암스트롱, 캔버라, 알렉산더 플레밍) are compared with English words by their consonant skeleton
(:func:`skeleton`), which survives the vowels and the dropped r that Korean transcription adds.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from streams.ports.text import Token

# How much each kind of term says about a topic: a name or a number pins it down, a common
# verb barely does.
WEIGHTS = {"name": 2.0, "number": 2.0, "latin": 1.5, "noun": 1.0, "verb": 0.5}
# Question words and function words the analyser tags as Latin-script words.
ENGLISH_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "from",
        "by",
        "with",
        "and",
        "or",
        "but",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "do",
        "does",
        "did",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "many",
        "much",
        "this",
        "that",
        "these",
        "those",
        "it",
        "its",
        "it's",
        "their",
        "there",
        "they",
        "he",
        "she",
        "his",
        "her",
        "we",
        "our",
        "you",
        "your",
        "i",
        "me",
        "my",
        "as",
        "into",
        "than",
        "then",
        "so",
        "not",
        "no",
        "called",
        "call",
        "name",
        "named",
        "s",
        "has",
        "have",
        "had",
        "can",
        "could",
        "would",
        "should",
        "will",
    ]
)
# Korean nouns that only carry the question's shape ("무엇", "이유"), not its topic.
KOREAN_STOPWORDS = frozenset(
    [
        "것",
        "수",
        "때",
        "등",
        "뭐",
        "무엇",
        "누구",
        "어디",
        "언제",
        "이유",
        "까닭",
        "이름",
        "말",
        "뜻",
        "중",
        "가지",
        "경우",
        "정도",
        "하나",
    ]
)
_MIN_ROMAN = 5  # shorter romanised names match English words by accident
_MIN_TRIGRAM_SHARE = 0.8
_MIN_SKELETON = 3  # "nk" (잉카 ~ Inca) also matches "ink", "neck", "Inka" ...


@dataclass(frozen=True)
class Terms:
    """The key terms of one text, ready for matching."""

    # (normalised form, weight), one per distinct term
    weighted: tuple[tuple[str, float], ...]
    # forms that can match across languages: numbers and Latin-script words
    shared: frozenset[str]
    # romanised Korean nouns and names, and joined runs of Latin words, each with the terms it
    # stands for: cross-script names match through these
    roman: tuple[tuple[str, tuple[str, ...]], ...]
    # consonant skeletons of Hangul names (True) and of Latin runs (False), each with the terms
    # it stands for: a transcribed foreign name matches the English one through these
    loan: tuple[tuple[str, bool, tuple[str, ...]], ...] = ()
    # how often each form occurs (for BM25)
    counts: tuple[tuple[str, int], ...] = ()

    @property
    def forms(self) -> frozenset[str]:
        return frozenset(form for form, _ in self.weighted)

    @property
    def total(self) -> float:
        return sum(weight for _, weight in self.weighted)


def _stem(word: str) -> str:
    # Light English stemming so "planets" meets "planet"; Korean forms are already stems.
    word = word.casefold().removesuffix("'s")
    for suffix in ("ies", "es", "s"):
        if len(word) > 4 and word.endswith(suffix) and not word.endswith("ss"):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def _number(form: str) -> str:
    return form.replace(",", "")


def key_terms(tokens: Sequence[Token]) -> Terms:
    """The content terms of a tokenised text, weighted by kind, without question words."""
    weighted: dict[str, float] = {}
    counts: Counter[str] = Counter()
    shared: set[str] = set()
    roman: dict[str, tuple[str, ...]] = {}
    loan: dict[tuple[str, bool], tuple[str, ...]] = {}
    run: list[str] = []
    capitals: list[bool] = []
    for token in (*tokens, Token("", "other")):
        if token.kind == "latin" and token.form.isalpha():
            run.append(token.form.casefold())
            capitals.append(token.form[:1].isupper())
        elif token.form != "-" and run:
            # "An Jung-geun" arrives as An / Jung / - / geun: its joined runs are name candidates.
            for start in range(len(run)):
                for end in range(start + 1, min(start + 4, len(run) + 1)):
                    words = tuple(_stem(w) for w in run[start:end])
                    roman.setdefault("".join(run[start:end]), words)
                    # A transcription is of one word ("bishop") or of a name ("Vatican City"):
                    # joined common words ("an iceberg") only match by accident.
                    if (end - start == 1 or all(capitals[start:end])) and (
                        words[0] not in ENGLISH_STOPWORDS
                    ):
                        loan.setdefault((skeleton("".join(run[start:end])), False), words)
            run, capitals = [], []
        if token.kind == "other":
            continue
        if token.kind == "number":
            form = _number(token.form)
            shared.add(form)
        elif token.kind == "latin":
            form = _stem(token.form)
            if form in ENGLISH_STOPWORDS or len(form) < 2:
                continue
            shared.add(form)
        else:
            form = token.form.casefold()
            if form in KOREAN_STOPWORDS:
                continue
            if token.kind in ("name", "noun") and _is_hangul(form):
                roman.setdefault(romanise(form), (form,))
            if token.kind == "name" and _is_hangul(form):
                loan.setdefault((skeleton(romanise(form)), True), (form,))
        weighted[form] = max(weighted.get(form, 0.0), WEIGHTS[token.kind])
        counts[form] += 1
    loans = tuple(
        (k, hangul, forms) for (k, hangul), forms in loan.items() if len(k) >= _MIN_SKELETON
    )
    return Terms(
        tuple(weighted.items()),
        frozenset(shared),
        tuple(roman.items()),
        loans,
        tuple(counts.items()),
    )


def bm25(query: Terms, passages: Sequence[Terms], k1: float = 1.2, b: float = 0.75) -> list[float]:
    """Okapi BM25 of each passage for the query's terms (morphemes from the analyser, so
    "세종은" and "세종" are one term), with document frequencies over ``passages``: over the
    candidates of one question, a term every candidate shares (the topic) weighs little and
    one that sets a candidate apart weighs much."""
    if not passages:
        return []
    frequencies = [dict(p.counts) for p in passages]
    lengths = [sum(f.values()) for f in frequencies]
    average = sum(lengths) / len(lengths) or 1.0
    n = len(passages)
    scores = []
    for tf, length in zip(frequencies, lengths, strict=True):
        total = 0.0
        for form in query.forms:
            if form not in tf:
                continue
            df = sum(form in f for f in frequencies)
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            total += idf * tf[form] * (k1 + 1) / (tf[form] + k1 * (1 - b + b * length / average))
        scores.append(total)
    return scores


def coverage(query: Terms, passage: Terms, *, cross_script: bool) -> float:
    """The weighted share (0..1) of the query's key terms that the passage contains.

    Same-script texts match terms by form. ``cross_script`` texts (Korean against English)
    match numbers and Latin words by form, Korean names by romanisation and transcribed
    foreign names by consonant skeleton.
    """
    if not query.weighted:
        return 0.0
    if cross_script:
        named = {
            form
            for key, forms in query.roman
            if any(_similar(key, other) for other, _ in passage.roman)
            for form in forms
        }
        skeletons = {(key, hangul) for key, hangul, _ in passage.loan}
        loaned = {
            form
            for key, hangul, forms in query.loan
            if (key, not hangul) in skeletons
            for form in forms
        }
        matched = (query.forms & passage.shared) | named | loaned
    else:
        matched = query.forms & passage.forms
    return sum(weight for form, weight in query.weighted if form in matched) / query.total


# Letters as Korean transcription hears them: voicing and aspiration are not kept apart
# (g/k, d/t, b/p/f/v), nor s/sh/th or j/z/ch.
_DIGRAPHS = (
    ("ph", "p"),
    ("th", "t"),
    ("sh", "s"),
    ("ch", "j"),
    ("ck", "k"),
    ("qu", "k"),
    ("x", "ks"),
)
_LETTERS = str.maketrans("fvbgcqdz", "pppkkktj")


def skeleton(word: str) -> str:
    """The consonants of a Latin-script word (or a romanised Korean one) that survive Korean
    transcription: vowels, h, w, y, r and l dropped (Korean adds vowels, drops a final r and
    writes l and r alike), similar sounds folded, doubles collapsed. "armstrong" and
    "amseuteurong" (암스트롱) are both "mstnk"."""
    word = word.casefold()
    for digraph, letter in _DIGRAPHS:
        word = word.replace(digraph, letter)
    kept = [c for c in word.translate(_LETTERS) if c.isalpha() and c not in "aeiouyhwrl"]
    return "".join(c for i, c in enumerate(kept) if i == 0 or kept[i - 1] != c)


def _similar(a: str, b: str) -> bool:
    short, long = sorted((a, b), key=len)
    if len(short) < _MIN_ROMAN:
        return False
    grams = _trigrams(short)
    return len(grams & _trigrams(long)) / len(grams) >= _MIN_TRIGRAM_SHARE


def _trigrams(word: str) -> set[str]:
    return {word[i : i + 3] for i in range(len(word) - 2)}


# ---------------------------------------------------------------- answer mentions

_ARTICLES = re.compile(r"^(the|a|an)\s+", re.IGNORECASE)
_PUNCT = re.compile(r"[\s\W_]+")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def mentions(text: str, answer: str) -> bool:
    """Whether ``text`` states ``answer`` (case, width, spacing and punctuation ignored).

    The answer must start a word of the text and, when it ends in a digit or a Latin letter,
    end one: "2" is not found in "1392", "은" (silver) not inside "세종은". A Korean answer may
    carry a particle ("세종" in "세종은"), as Korean writes them glued on.
    """
    words = [w for w in _PUNCT.split(_ARTICLES.sub("", _fold(answer).strip())) if w]
    if not words:
        return False
    pattern = r"[\s\W_]*".join(re.escape(w) for w in words)
    tail = r"(?![0-9a-z])" if re.search(r"[0-9a-z]$", words[-1]) else ""
    return re.search(rf"(?<![\w]){pattern}{tail}", _fold(text)) is not None


# ---------------------------------------------------------------- romanisation

_INITIALS = [
    "g",
    "kk",
    "n",
    "d",
    "tt",
    "r",
    "m",
    "b",
    "pp",
    "s",
    "ss",
    "-",
    "j",
    "jj",
    "ch",
    "k",
    "t",
    "p",
    "h",
]
_MEDIALS = [
    "a",
    "ae",
    "ya",
    "yae",
    "eo",
    "e",
    "yeo",
    "ye",
    "o",
    "wa",
    "wae",
    "oe",
    "yo",
    "u",
    "wo",
    "we",
    "wi",
    "yu",
    "eu",
    "ui",
    "i",
]
# Final consonant before another consonant or at the end (RR), and before a vowel (linked).
_FINALS = [
    "-",
    "k",
    "k",
    "k",
    "n",
    "n",
    "n",
    "t",
    "l",
    "k",
    "m",
    "l",
    "l",
    "l",
    "p",
    "l",
    "m",
    "p",
    "p",
    "t",
    "t",
    "ng",
    "t",
    "t",
    "k",
    "t",
    "p",
    "t",
]
_LINKED = [
    "-",
    "g",
    "kk",
    "ks",
    "n",
    "nj",
    "nh",
    "d",
    "r",
    "lg",
    "lm",
    "lb",
    "ls",
    "lt",
    "lp",
    "lh",
    "m",
    "b",
    "bs",
    "s",
    "ss",
    "ng",
    "j",
    "ch",
    "k",
    "t",
    "p",
    "h",
]


def _is_hangul(text: str) -> bool:
    return any("가" <= ch <= "힣" for ch in text)


def romanise(text: str) -> str:
    """Revised Romanisation of the Hangul syllables in ``text`` (other characters dropped),
    with the sound changes names show most: linking before a vowel, ㄴ+ㄹ -> ll, ㄹ+ㄹ -> ll,
    ㄱ/ㅂ/ㅇ+ㄹ -> ngn/mn/ngn, ㄱ/ㄷ/ㅂ before ㄴ/ㅁ -> ng/n/m."""
    syllables = [ord(ch) - 0xAC00 for ch in text if "가" <= ch <= "힣"]
    parts = [(s // 588, (s % 588) // 28, s % 28) for s in syllables]
    out: list[str] = []
    for i, (initial, medial, final) in enumerate(parts):
        onset = _INITIALS[initial]
        if i > 0:
            previous = parts[i - 1][2]
            if initial == 5 and previous in (4, 8):  # ㄹ after ㄴ/ㄹ
                onset = "l"
            elif initial == 5 and previous in (1, 17, 21):  # ㄹ after ㄱ/ㅂ/ㅇ
                onset = "n"
        out.append(("" if onset == "-" else onset) + _MEDIALS[medial])
        if final:
            following = parts[i + 1][0] if i + 1 < len(parts) else None
            if following == 11:  # ㅇ: the final links to the next vowel
                coda = _LINKED[final]
            elif following == 5 and final == 4:  # ㄴ+ㄹ
                coda = "l"
            elif following in (2, 6, 5) and final in (1, 2, 3, 9):  # ㄱ before ㄴ/ㅁ/ㄹ
                coda = "ng"
            elif following in (2, 6, 5) and final in (17, 18):  # ㅂ before ㄴ/ㅁ/ㄹ
                coda = "m"
            else:
                coda = _FINALS[final]
            out.append("" if coda == "-" else coda)
    return "".join(out)


def tokens_of(texts: Iterable[Sequence[Token]]) -> list[Terms]:
    """``key_terms`` of several tokenised texts."""
    return [key_terms(tokens) for tokens in texts]
