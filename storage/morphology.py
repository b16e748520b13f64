"""Russian words to search stems: one tokenizer, one stemmer, and query-side word forms.

The index holds Snowball stems (PyStemmer, a C extension, two orders of magnitude faster than a
dictionary lemmatizer, which would hold ingest back: bench.stemming). Snowball alone
is inconsistent on some common words (визит → виз, but визита → визит) and cannot fold
irregular forms (вышел / выйдет). So each query word is expanded with pymorphy3 to every
form of its lexeme, and the query accepts any of their stems: a query in any form finds
a text in any form. Unknown words (surnames, new terms) fall back to their own stem.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from functools import lru_cache

import pymorphy3
import Stemmer

WORD_RE = re.compile(r"\w+", re.UNICODE)

# Very frequent function words: indexing them only bloats the index, and
# requiring them in queries ("визит в Москву") loses good matches.
STOPWORDS = frozenset(
    "и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только "
    "ее её мне было вот от меня еще ещё нет о из ему теперь когда даже ну вдруг ли если уже "
    "или ни быть был него до вас нибудь опять уж вам ведь там потом себя ничего ей может они "
    "тут где есть надо ней для мы тебя их чем была сам чтоб без будто чего раз тоже себе под "
    "будет ж тогда кто этот того потому этого какой совсем ним здесь этом один почти мой тем "
    "чтобы нее неё сейчас были куда зачем всех никогда можно при наконец два об другой хоть "
    "после над больше тот через эти нас про всего них какая много разве три эту моя впрочем "
    "хорошо свою этой перед иногда лучше чуть том нельзя такой им более всегда конечно всю "
    "между это ".split()
)

_local = threading.local()


def _stemmer() -> Stemmer.Stemmer:
    # PyStemmer objects are not thread-safe; summarization runs in worker threads.
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = Stemmer.Stemmer("russian")
    return stemmer


def normalize_word(word: str) -> str:
    """Lower-case and fold ё to е (unicode61 does not)."""
    return word.lower().replace("ё", "е")


def stem_words(words: list[str]) -> list[str]:
    """Stems of already normalised words, in order."""
    return _stemmer().stemWords(words)


def index_stems(text: str) -> list[str]:
    """Stems of every content word of a text, in order, stopwords dropped."""
    words = [w for w in (normalize_word(m) for m in WORD_RE.findall(text)) if w not in STOPWORDS]
    return stem_words(words)


def word_spans(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, stem) for every word of the original text, stopwords included."""
    matches = list(WORD_RE.finditer(text))
    stems = stem_words([normalize_word(m.group()) for m in matches])
    for m, stem in zip(matches, stems, strict=True):
        yield m.start(), m.end(), stem


_morph = pymorphy3.MorphAnalyzer()  # ~40 ms to load; read-only, safe to share between threads
_MAX_PARSES = 2  # an ambiguous form (стали: стать / сталь) brings the lexemes of both readings


# What a thing is called: nouns and adjectives ("Корея", "южнокорейский"), not what is done or how.
_NAMING_POS = frozenset({"NOUN", "ADJF"})
_PLACE_OR_PERSON = frozenset({"Geox", "Name", "Surn"})


@lru_cache(maxsize=100_000)
def naming_lexeme(word: str) -> str | None:
    """A normalised word's dictionary form if it names something ("кореи", "корее" → "корея"): one key for
    every form of a word, where Snowball gives two ("кор", "коре"). None for verbs, adverbs, numerals and the
    like. An unknown or non-Russian word (a surname, "Yonhap") stands for itself."""
    if word in STOPWORDS or word.isdigit():
        return None
    if not any("а" <= ch <= "я" for ch in word):
        return word
    parse = _morph.parse(word)[0]
    if not parse.is_known:
        return word
    if parse.tag.POS not in _NAMING_POS or "Apro" in parse.tag:  # "этот", "такой": pointing, not naming
        return None
    return normalize_word(parse.normal_form)


@lru_cache(maxsize=20_000)
def _grammemes(word: str) -> frozenset[str]:
    """A dictionary form's grammemes as the dictionary (or its guess, for a word it lacks) tags it: parsed once
    for names_place_or_person and names_place both."""
    return frozenset(_morph.parse(word)[0].tag.grammemes)


def names_place_or_person(word: str) -> bool:
    """Whether a dictionary form names a place or a person ("корея", "нетаньяху"); an organisation (РИА,
    Минфин: sources and offices) is not one."""
    return bool(_PLACE_OR_PERSON & _grammemes(word))


def names_place(word: str) -> bool:
    """Whether a dictionary form names a place ("москва", "якутия")."""
    return "Geox" in _grammemes(word)


@lru_cache(maxsize=20_000)
def query_stems(word: str) -> tuple[str, ...]:
    """Stems of every form of a normalised query word's lexeme(s); its own stem first."""
    own = stem_words([word])[0]
    if not any("а" <= ch <= "я" for ch in word):
        return (own,)
    stems = {own}
    readings: set[str] = set()
    for parse in _morph.parse(word):
        if parse.normal_form in readings or len(readings) == _MAX_PARSES or not parse.is_known:
            continue
        readings.add(parse.normal_form)
        forms = [normalize_word(f.word) for f in parse.lexeme]
        stems.update(s for s in stem_words(forms) if len(s) >= min(3, len(own)))
    stems.discard(own)
    return (own, *sorted(stems))
