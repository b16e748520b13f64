import asyncio
from datetime import date

import pytest

from search.query import MAX_QUERY_CHARS, parse_query
from search.searcher import Searcher
from search.vectors import VectorIndex
from storage.embeddings import EmbeddingsRepo
from storage.items import ItemsRepo
from storage.statements import parse_statement

pytestmark = pytest.mark.both_backends  # each test taking `db` runs on SQLite and PostgreSQL

STATEMENTS = [
    "date 2025-08-01\nСостоялся визит Президента в Казань, где обсуждали строительство метро.",
    "date 2025-08-05\nЕвросоюз обсуждает новый пакет санкций против нефтяной отрасли.",
    "date 2025-08-09\nСанкции не повлияли на урожай зерна, заявили в министерстве.",
    "date 2024-01-10\nВ Москве ожидается сильный снегопад и ёлочные базары закрываются.",
    "date 2024-01-11\nМинистр вышел из кабинета и ответил на вопросы журналистов.",
]


@pytest.fixture
async def search(db):
    await ItemsRepo(db).add_many([parse_statement(s) for s in STATEMENTS])
    return Searcher(db)


async def texts(search, query, **kw):
    return [h.item_id for h in (await search.search(query, **kw)).hits]


async def test_morphology_finds_other_forms(search):
    assert await texts(search, "визит президента") == [1]
    assert await texts(search, "визита президентом") == [1]  # Snowball alone: визита → визит, визит → виз
    assert set(await texts(search, "санкции")) == {2, 3}
    assert await texts(search, "Москва") == [4]
    assert await texts(search, "елочный") == [4]  # ё folded to е
    assert await texts(search, "выйдет министр") == [5]  # irregular forms of one verb


async def test_recent_items_rank_first_among_equals(search):
    assert await texts(search, "санкции") == [3, 2]


async def test_date_filters(search):
    assert await texts(search, "санкции", date_from=date(2025, 8, 6)) == [3]
    assert await texts(search, "санкции", date_to=date(2025, 8, 6)) == [2]


async def test_exclusion_and_phrase_and_prefix(search):
    assert await texts(search, "санкции -зерно") == [2]
    assert await texts(search, '"пакет санкций"') == [2]
    assert await texts(search, '"санкций пакет"') == []
    assert await texts(search, "строит*") == [1]


async def test_snippet_marks_the_matched_original_words(search):
    hit = (await search.search("визит президента")).hits[0]
    rendered = hit.render(lambda w: f"<b>{w}</b>")
    assert "<b>визит</b> <b>Президента</b>" in rendered
    assert hit.statement_date == date(2025, 8, 1)


async def test_snippet_marks_irregular_forms_and_prefixes(search):
    irregular = (await search.search("выйдет министр")).hits[0]
    assert "[Министр] [вышел]" in irregular.render(lambda w: f"[{w}]")  # вышел: a form of выйти, not its stem
    prefix = (await search.search("строит*")).hits[0]
    assert "[строительство]" in prefix.render(lambda w: f"[{w}]").lower()


async def test_snippet_of_long_text_shows_the_match(db):
    long = " ".join(["Вода"] * 300) + " Здесь упомянут дирижабль. " + " ".join(["Вода"] * 300)
    await ItemsRepo(db).add(parse_statement(long))
    hit = (await Searcher(db).search("дирижабли")).hits[0]
    assert hit.snippet.startswith("…") and hit.snippet.endswith("…")
    assert "[дирижабль]" in hit.render(lambda w: f"[{w}]") and len(hit.snippet) < 300


async def test_paging(db):
    await ItemsRepo(db).add_many([parse_statement(f"Новость номер {i} про погоду.") for i in range(25)])
    search = Searcher(db)
    first = await search.search("погода", limit=10)
    third = await search.search("погода", limit=10, offset=20)
    assert len(first.hits) == 10 and first.has_more
    assert len(third.hits) == 5 and not third.has_more
    seen = {h.item_id for h in first.hits} | {h.item_id for h in third.hits}
    assert len(seen) == 15


# Whatever a user types is words or nothing: never an FTS5 syntax error. Each query with its expected ids.
@pytest.mark.parametrize(("query", "expected"), [
    ('"', []), ('"визит', [1]), ("AND", []), ("OR OR", []), ("NOT санкции", [3, 2]), ("санкции AND", [3, 2]),
    ("a:b", []), ("title:санкции", []), ("(((", []), (")", []), ("*", []), ("-", []), ("--", []),
    ("санкции*)", [3, 2]), ("NEAR(визит президента)", [1]), ("🙂🙂", []), ("'; DROP TABLE items; --", []),
    ("^визит", [1]), ("визит + президент", [1]), ("x" * 5000, []), ("санкции " * 1000, [3, 2]),
    ("\x00\x01", []), ("", []),
])
async def test_any_user_text_is_safe(search, query, expected):
    assert await texts(search, query) == expected


async def test_operators_typed_by_users_are_words_or_ignored(search):
    assert await texts(search, "NOT санкции") == await texts(search, "санкции") == [3, 2]
    assert await texts(search, "title:санкции") == []  # one chunk: the phrase "title санкции"
    assert await texts(search, "title санкции") == [3, 2]  # two words: санкции alone ranks


def test_query_terms_are_capped():
    distinct_words = " ".join(f"слово{n}" for n in range(100))
    assert len(parse_query(distinct_words).include) == 16
    assert MAX_QUERY_CHARS == 1000
    assert len(parse_query("дом " * 200 + "сад").include) == 2  # сад at character 800: read
    assert len(parse_query("дом " * 300 + "сад").include) == 1  # сад at character 1,200: past the cap


def test_only_stopwords_or_only_exclusions_is_empty():
    assert parse_query("и в на").empty
    assert parse_query("-санкции").empty


async def found_in_window(db, monkeypatch, texts: list[str], window: int, query: str, limit: int) -> list[int]:
    """The ids a query finds (sorted) among these statements, ranked over the newest `window` matches."""
    import search.searcher as search_module
    await ItemsRepo(db).add_many([parse_statement(t) for t in texts])
    monkeypatch.setattr(search_module, "RANK_WINDOW", window)
    return sorted(h.item_id for h in (await Searcher(db).search(query, limit=limit)).hits)


async def test_broad_queries_rank_the_newest_window(db, monkeypatch):
    texts = [f"Погода номер {i}." for i in range(30)]
    assert await found_in_window(db, monkeypatch, texts, 10, "погода", 50) == list(range(21, 31))


async def test_words_that_meet_only_in_old_statements_are_found_beyond_the_newest(db, monkeypatch):
    # Each word is common, so the newest statements are searched first for the window of matches; the two
    # meet only in the oldest statements, and those are found all the same.
    texts = ([f"Погода и жара, сводка {i}." for i in range(4)] + [f"Погода номер {i}." for i in range(13)]
             + [f"Жара номер {i}." for i in range(13)])
    assert await found_in_window(db, monkeypatch, texts, 3, "погода жара", 3) == [2, 3, 4]


async def test_a_window_found_in_parts_holds_the_newest_matches_and_no_more(db, monkeypatch):
    # Some of the words: the newest ids hold 2 of a window of 6, the rest are in older ids, searched next.
    texts = ([f"Ураган номер {i}." for i in range(20)] + [f"Заметка номер {i}." for i in range(40)]
             + [f"Погода номер {i}." for i in range(2)])
    assert await found_in_window(db, monkeypatch, texts, 6, "погода ураган", 10) == [17, 18, 19, 20, 61, 62]


async def test_a_sentence_finds_the_documents_with_most_of_its_words(search):
    # No statement has every word: the best partial matches come, most words first.
    assert await texts(search, "визит президента в Москву") == [1, 4]
    assert await texts(search, "какие санкции против нефтяной отрасли") == [2, 3]


async def test_documents_with_every_word_come_before_partial_ones(db):
    items = ItemsRepo(db)
    await items.add_many([parse_statement(s) for s in (
        "Газ, газ, газ: хранилища газа полны, газ идёт в Европу, газ.",  # газ many times, no цены
        "Цены на газ выросли.",
        "Цены на хлеб не изменились.",
    )])
    got = await texts(Searcher(db), "газ цены")
    assert got[0] == 2 and set(got[1:]) == {1, 3}  # both words first, however often one word repeats


async def test_paging_runs_on_from_the_full_matches_into_the_partial_ones(db):
    await ItemsRepo(db).add_many(
        [parse_statement(f"Погода и урожай в районе {i}.") for i in range(7)]
        + [parse_statement(f"Погода в городе {i}.") for i in range(6)])
    search = Searcher(db)
    pages = [await search.search("погода урожай", limit=5, offset=o) for o in (0, 5, 10)]
    ids = [h.item_id for p in pages for h in p.hits]
    assert len(ids) == len(set(ids)) == 13  # every statement once, none twice across the tiers
    assert set(ids[:7]) == set(range(1, 8))  # both words first
    assert [p.has_more for p in pages] == [True, True, False]


async def test_quoted_phrases_stay_required_and_exclusions_hold_in_the_partial_tier(search):
    assert await texts(search, '"визит президента" Москва') == [1]  # Москва optional, the phrase not
    assert await texts(search, "санкции урожай -зерна") == [2]


async def test_a_hyphenated_run_is_an_optional_phrase_not_a_requirement(db):
    await ItemsRepo(db).add_many([parse_statement("Пять поездов пришли с опозданием из-за поломки на участке.")
                                  , parse_statement("Поезд Чудово–Петербург отменён.")])
    # "Чудово-Петербург" typed with a hyphen is a phrase; a statement without it is still found.
    assert await texts(Searcher(db), "Из-за поломки на участке Чудово-Петербург опоздали поезда") == [1, 2]


async def test_a_word_most_statements_share_does_not_find_partial_matches_alone(db):
    # "заявил" is in 1,100 statements; the query's rarer words find the answers, and a statement with
    # only the common word is not a partial match worth ranking.
    items = ItemsRepo(db)
    await items.add_many([parse_statement(f"Министр заявил о встрече номер {i}.") for i in range(1100)])
    bridge, = await items.add_many([parse_statement("Ремонт моста на Неве начнётся весной.")])
    page = await Searcher(db).search("мэр заявил о ремонте моста", limit=10)
    assert [h.item_id for h in page.hits] == [bridge.item_id] and not page.has_more


async def test_a_word_that_becomes_common_stops_finding_partial_matches_alone(db):
    items = ItemsRepo(db)
    await items.add_many([parse_statement(f"Министр сообщил о встрече номер {i}.") for i in range(1100)])
    bridge, = await items.add_many([parse_statement("Ремонт моста на Неве начнётся весной.")])
    search = Searcher(db)
    await search.search("мэр заявил о ремонте моста", limit=10)  # "заявил" is in no statement yet
    await items.add_many([parse_statement(f"Министр заявил о встрече номер {i}.") for i in range(1100)])
    page = await search.search("мэр заявил о ремонте моста", limit=10)  # the same search, the store doubled
    assert [h.item_id for h in page.hits] == [bridge.item_id] and not page.has_more


async def test_the_counts_of_words_are_read_again_only_when_the_store_has_grown(tmp_path):
    from storage.fts5 import COUNT_GROWTH
    from storage.sqlite import SqliteDatabase
    db = await SqliteDatabase.open(tmp_path / "counts.sqlite3")
    items = ItemsRepo(db)
    await items.add_many([parse_statement(f"Министр сообщил о встрече номер {i}.") for i in range(200)])
    reads = []
    fetchall = db.fetchall

    async def counting(sql, params=()):
        reads.extend(["counts"] if "items_fts_vocab" in sql else [])
        return await fetchall(sql, params)

    db.fetchall = counting
    search = Searcher(db)
    for _ in range(3):
        await search.search("министр сообщил о ремонте моста", limit=10)
    assert len(reads) == 1
    await items.add_many([parse_statement(f"Мост номер {i}.") for i in range(int(200 * COUNT_GROWTH) + 1)])
    await search.search("министр сообщил о ремонте моста", limit=10)
    assert len(reads) == 2
    await db.close()


async def test_a_minus_before_a_number_is_a_temperature_not_an_exclusion(db):
    await ItemsRepo(db).add_many([parse_statement("К концу выходных в Красноярске похолодает до -6 градусов.")])
    assert parse_query("до -6").exclude == () and parse_query("-мороз").exclude != ()
    assert await texts(Searcher(db), "похолодает до -6") == [1]


async def test_a_page_of_all_words_matches_does_not_wait_for_the_meaning(search):
    meaning = Searcher(search.db, VectorIndex(EmbeddingsRepo(search.db)))
    never = asyncio.get_running_loop().create_future()  # a query vector that is never made
    page = await asyncio.wait_for(meaning.search("санкции", limit=1, query_vector=never), 10)
    assert [h.item_id for h in page.hits] == [3] and page.has_more
    assert never.cancelled()


async def test_a_word_in_the_title_ranks_above_the_same_word_in_the_body(db):
    """Both tiers: statements with every word, and with some of them (the title counts twice, as on FTS5)."""
    body = "Власти обсудили санкции и пошлины на совещании в министерстве."
    titled = "Санкции\nВласти обсудили меры и пошлины на совещании в министерстве."
    ids = [r.item_id for r in await ItemsRepo(db).add_many(
        [parse_statement(t, title=t.split("\n")[0] if "\n" in t else None, statement_date=date(2025, 8, 1))
         for t in (body, titled)])]
    search = Searcher(db)
    assert await texts(search, "санкции") == [ids[1], ids[0]]
    assert await texts(search, "санкции ураган") == [ids[1], ids[0]]  # no statement has both: some of the words
