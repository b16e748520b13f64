"""Channel text as models and readers get it: footers learned per source, calls to action, emoji, tags and links
gone, lines kept; and a statement's headline made from it."""

from datetime import date

from digest.maker import DigestMaker
from storage.items import ItemsRepo
from storage.statements import NewItem
from summarizer.cleaning import clean, is_call_to_action, learn_footers
from summarizer.footers import SourceFooters
from summarizer.headline import MAX_CHARS, cut, headline
from summarizer.not_news import by_rules

FOOTER = "⚡️ Новый Канал — новости без цензуры"  # no call word: only learning can tell it is a footer
POSTS = ["Мэрия закрыла мост через реку на ремонт до весны.\n\nДвижение пустят в объезд.",
         "На юге города открылась новая школа на тысячу учеников.",
         "Синоптики обещают снег к выходным, до десяти сантиметров."]


def test_a_new_channels_footer_is_learned_from_its_first_posts():
    posts = [f"{text}\n\n{FOOTER}" for text in POSTS]
    assert learn_footers(posts[:2]) == frozenset()  # two posts are not enough to call a line a footer
    footers = learn_footers(posts)
    assert clean(posts[0], footers) == "Мэрия закрыла мост через реку на ремонт до весны.\nДвижение пустят в объезд."
    assert FOOTER not in clean(posts[0])  # the general rules alone keep it …
    assert "Новый Канал" in clean(posts[0])  # … as text: it is the learned footer that goes


def test_a_line_that_closes_a_fifth_of_posts_is_a_footer_but_rarer_news_lines_are_not():
    posts = [f"Новость номер {n} о городе.\nПодробности позже." for n in range(15)]
    posts += [f"Другая новость {n}.\nИнформация уточняется." for n in range(3)]
    footers = learn_footers(posts)
    assert "подробности позже" in footers  # 15 of 18 posts
    assert "информация уточняется" not in footers  # 3 of 18: under a fifth


def test_general_calls_to_action_go_but_news_about_signing_stays():
    text = "Путин подписал указ о призыве.\nПодписывайся на канал, чтобы не пропустить\n📩 Прислать новость"
    assert clean(text) == "Путин подписал указ о призыве."
    assert not is_call_to_action("Путин подписал указ о призыве")
    assert is_call_to_action("❤ Подписаться | Прислать новость")


def test_emoji_tags_links_and_signatures_go_and_lines_stay():
    text = ("🔥⚡️Пожар на складе в Химках 🚒\n\nПлощадь 300 м², температура −5 °C. #пожар https://t.me/x/1\n"
            "Фото: пресс-служба МЧС @mchs_official")
    assert clean(text) == ("Пожар на складе в Химках\nПлощадь 300 м², температура −5 °C.\n"
                           "Фото: пресс-служба МЧС")


def test_a_post_that_is_only_a_footer_or_emoji_cleans_to_nothing_or_its_first_line():
    assert clean("🔥🔥🔥") == ""
    assert clean("Кадры с места\n\n❤ Подписаться | Прислать новость", learn_footers([])) == "Кадры с места"


def test_the_headline_is_the_first_line_never_glued_to_the_body():
    text = "Ледяной дождь накроет Москву ночью\nТакже он ожидается и в Подмосковье в среду."
    assert headline(text) == "Ледяной дождь накроет Москву ночью"


def test_a_paragraph_post_is_headed_by_its_first_sentence_or_a_models_summary():
    text = "Две машины влетели в дом на Патриках. BMW и Toyota въехали в здание после столкновения."
    assert headline(text) == "Две машины влетели в дом на Патриках."
    assert headline(text, model_summary="Машины врезались в дом. Пострадали двое.") == "Машины врезались в дом."


def test_a_label_line_is_joined_to_the_news_it_introduces_and_a_caption_word_skipped():
    assert headline("Минобороны РФ:\nПВО сбили 20 беспилотников. Ещё.") == "Минобороны РФ: ПВО сбили 20 беспилотников."
    assert headline("Мир умер\nКот Мир, подаренный губернатору, умер от болезни.") == \
        "Кот Мир, подаренный губернатору, умер от болезни."


def test_a_long_headline_is_cut_at_a_clause_and_never_inside_a_quote():
    long = ("Президент заявил на заседании совета безопасности, что «мы будем работать и дальше, "
            + "очень " * 30 + "долго», и это важно для всех регионов страны")
    line = headline(long)
    assert len(line) <= MAX_CHARS and line.endswith("…")
    assert line.count("«") == line.count("»")  # cut before the quotation, not inside it
    assert cut("«" + "слово " * 60 + "»").endswith("…»")  # a quotation longer than the room is closed


async def test_the_store_teaches_each_source_its_footer_and_the_digest_line_shows_none(db):
    items = ItemsRepo(db)
    day = date(2025, 8, 9)
    await items.add_many([NewItem(f"{t}\n\n{FOOTER}", day, source="channel:@new") for t in POSTS])
    await items.add(NewItem(f"Трамвай сошёл с рельсов в центре.\n\n{FOOTER}", day, source="channel:@other"))
    footers = await SourceFooters(items).of(["channel:@new", "channel:@other"])
    assert footers["channel:@other"] == frozenset()  # its one post teaches nothing
    digest = await DigestMaker(db).for_dates(day, day)
    page = digest.messages[0]
    assert "Мэрия закрыла мост через реку на ремонт до весны." in page
    assert page.count("Новый Канал") == 0  # the channel's footer is on no line
    assert "Трамвай сошёл с рельсов в центре." in page


def test_hostile_texts_are_cleaned_in_one_pass():
    # Each would take hours to a pattern that rescans a run from each of its positions.
    for hostile in ("a-" * 100_000 + "/", "@" + "a" * 200_000, "#" * 100_000, "🔥" * 100_000, "Подписаться " * 20_000,
                    "«" * 50_000 + "\n" + "x" * 10, ("a." * 50_000) + "ru/"):
        cleaned = clean(hostile, learn_footers([hostile] * 5))
        assert len(cleaned) <= len(hostile)
        headline(cleaned)
        by_rules(hostile + " реклама erid", cleaned)  # the ad pattern runs on the whole raw text


def test_a_quotation_the_first_line_leaves_open_is_not_shown_open():
    post = '"Российские военные применили систему "Орешник"\nв безъядерном снаряжении", — сказал Путин.'
    line = headline(post)
    assert line == 'Российские военные применили систему "Орешник"' and line.count('"') % 2 == 0
    assert headline("Песков: «Мы ответим на это\nсимметрично»") .count("«") == 1
    assert headline("Песков: «Мы ответим на это\nсимметрично»").endswith("»")
