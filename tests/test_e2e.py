"""End to end: the real bot process against a Bot API server process, used as people would."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from tests.conftest import create_postgres_database
from tests.e2e import TOKEN, BotApiServer, BotProcess
from tests.feed_server import feed_server_thread

pytestmark = pytest.mark.e2e  # real processes: `pytest -m "not e2e"` leaves these out

ADMIN, USER, BLOCKER = 100, 200, 300


@pytest.fixture
def api():
    server = BotApiServer()
    yield server
    server.stop()


@pytest.fixture
def bot(api, tmp_path):
    process = BotProcess(api, tmp_path, ADMIN_IDS=str(ADMIN))
    yield process
    code = process.stop()
    assert code == 0, process.output()[-3000:]
    assert TOKEN not in process.output()


def to(chat_id, pattern):
    return lambda r: r["chat_id"] == chat_id and re.search(pattern, r["text"])


def test_admin_posts_user_searches_reads_and_gets_the_digest(api, bot):
    # An admin posts a statement: stored at once, then its summary follows.
    api.send_text(ADMIN, "date 2025-08-09\nВизит Президента в Новосибирск продлится два дня. "
                         "В программе совещание по развитию Сибири.")
    saved = api.wait_for(to(ADMIN, r"Сохранено: #1"))
    api.wait_for(to(ADMIN, r"📝 #1 кратко: Визит Президента"), after=api.sent().index(saved))
    api.send_text(ADMIN, "date 2025-08-09\nвизит президента в Новосибирск  продлится два дня. "
                         "В программе совещание по развитию Сибири.")
    api.wait_for(to(ADMIN, r"уже есть: #1"))
    api.send_document(ADMIN, "weather.txt", "Синоптики обещают жару в Москве: до +34 <градусов>.".encode())
    api.wait_for(to(ADMIN, r"Сохранено: #2"))
    for i in range(6):
        api.send_text(ADMIN, f"Погода в регионе номер {i + 1}: ожидаются дожди и туман.")
    api.wait_for(to(ADMIN, r"Сохранено: #8"))

    # A user subscribes and searches with another word form.
    api.send_text(USER, "/start")
    api.wait_for(to(USER, r"Вы подписаны"))
    api.send_text(USER, "/search визита президента")
    result = api.wait_for(to(USER, r"результаты"))
    assert "<b>Визит</b> <b>Президента</b>" in result["text"] and "/item1" in result["text"]

    # Plain text in a private chat is a search too; results page with buttons.
    api.send_text(USER, "погоды")
    page = api.wait_for(to(USER, r"погоды</b> — результаты 1–5"))
    button = page["reply_markup"]["inline_keyboard"][0][0]
    assert button["text"].startswith("Ещё")
    api.press(USER, page, button["callback_data"])
    edited = api.wait_for(lambda r: r["method"] == "editMessageText" and r["chat_id"] == USER)
    assert "результаты 6–" in edited["text"]

    # The full statement, with HTML in it escaped.
    api.send_text(USER, "/item2")
    item = api.wait_for(to(USER, r"<b>#2</b>"))
    assert "&lt;градусов&gt;" in item["text"] and "Кратко" in item["text"]

    # A non-admin cannot delete; nothing changes.
    api.send_text(USER, "/delete 1")
    api.wait_for(to(USER, r"только для администраторов"))
    api.send_text(USER, "/item 1")
    api.wait_for(to(USER, r"<b>#1</b>"))

    # Unknown commands and bad arguments get a polite line.
    api.send_text(USER, "/frobnicate")
    api.wait_for(to(USER, r"Не знаю такой команды"))
    api.send_text(USER, "/time 25:99")
    api.wait_for(to(USER, r"Не понимаю время"))

    # A second subscriber has blocked the bot by the time the digest goes out.
    api.send_text(BLOCKER, "/subscribe")
    api.wait_for(to(BLOCKER, r"подписаны"))
    api.block(BLOCKER)

    start = len(api.sent())
    api.send_text(ADMIN, "/senddigest")
    digest = api.wait_for(to(USER, r"^<b>Дайджест за "), after=start)
    assert "/item1" in digest["text"] and "/item2" in digest["text"]
    api.wait_for(to(ADMIN, r"Готово.*отправлено: 1"), after=start)

    # Sending again the same day sends nothing twice.
    start = len(api.sent())
    api.send_text(ADMIN, "/senddigest")
    api.wait_for(to(ADMIN, r"Готово.*уже получили сегодня: 1"), after=start)
    assert not [r for r in api.sent()[start:] if r["chat_id"] == USER]

    api.send_text(ADMIN, "/stats")
    stats = api.wait_for(to(ADMIN, r"Статистика"))
    assert "Подписчиков: 1" in stats["text"] and "заблокировали бота: 1" in stats["text"]
    commands = api.state()["commands"]
    assert {c["command"] for c in commands} >= {"start", "search", "digest", "item"}
    assert any(re.search("[а-я]", c["description"]) for c in commands)


def test_flood_limits_are_waited_out(api, bot):
    api.send_text(USER, "/start")
    api.wait_for(to(USER, r"Вы подписаны"))
    api.send_text(ADMIN, "Курс рубля укрепился на открытии торгов.")
    api.wait_for(to(ADMIN, r"Сохранено"))
    api.flood(3, retry_after=1)
    api.send_text(ADMIN, "/senddigest")
    api.wait_for(to(USER, r"^<b>Дайджест за "), timeout=30)
    api.wait_for(to(ADMIN, r"Готово.*отправлено: 1"))
    assert "429" in bot.output()


def test_replies_survive_a_burst_of_server_errors(api, bot):
    api.send_text(USER, "/start")
    api.wait_for(to(USER, r"Вы подписаны"))
    api.fault(count=4, status=502)  # the Bot API answers 502 four times in a row
    for i in range(3):
        api.send_text(ADMIN, f"Заявление номер {i + 1} во время сбоя.")
    for i in range(3):
        api.wait_for(to(ADMIN, rf"Сохранено: #{i + 1}\b"), timeout=30)
    assert "TelegramServerError on SendMessage" in bot.output()


def test_sigterm_mid_reply_lets_the_reply_finish(api, bot):
    api.send_text(USER, "/start")
    api.wait_for(to(USER, r"Вы подписаны"))
    api.fault(delay=3)  # every reply now takes 3 s to be accepted
    before = api.state()["calls"].get("sendMessage", 0)
    api.send_text(USER, "/help")
    deadline = time.monotonic() + 10
    while api.state()["calls"].get("sendMessage", 0) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert api.state()["calls"].get("sendMessage", 0) > before, "the reply never started: nothing to interrupt"
    assert bot.stop() == 0  # SIGTERM while the reply is on its way
    api.wait_for(to(USER, r"Новостной дайджест"))
    output = bot.output()
    # The reply was written to its end, not cut off by the session closing under it.
    assert "is not handled" not in output and "NetworkError" not in output, output[-3000:]
    assert "Traceback" not in output and "ERROR" not in output, output[-3000:]


def test_the_running_bot_serves_metrics_and_health(api, tmp_path):
    import json
    import urllib.request

    from tests.e2e import free_port
    port = free_port()
    process = BotProcess(api, tmp_path, ADMIN_IDS=str(ADMIN), METRICS_LISTEN=f"127.0.0.1:{port}")
    try:
        api.send_text(ADMIN, "Курс рубля укрепился на открытии торгов.")
        api.wait_for(to(ADMIN, r"Сохранено: #1\b"))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as resp:
            assert resp.status == 200 and json.loads(resp.read())["ok"] is True
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            text = resp.read().decode()
        assert "newsdigest_statements 1.0" in text and "newsdigest_statements_stored_total 1.0" in text
        assert "newsdigest_messages_sent_total" in text
    finally:
        assert process.stop() == 0, process.output()[-3000:]


def test_webhook_mode_takes_posted_updates_and_refuses_a_wrong_secret(api, tmp_path):
    import json
    import urllib.error
    import urllib.request

    from tests.e2e import free_port
    port = free_port()
    hook = f"http://127.0.0.1:{port}/telegram/hook"
    process = BotProcess(api, tmp_path, "run", "--webhook", ADMIN_IDS=str(ADMIN), WEBHOOK_URL=hook,
                         WEBHOOK_SECRET="s3cret-Hook_1", WEBHOOK_LISTEN=f"127.0.0.1:{port}")
    try:
        api.send_text(ADMIN, "Курс рубля укрепился на открытии торгов.")
        api.wait_for(to(ADMIN, r"Сохранено: #1\b"))
        assert api.state()["webhook"] == {"url": hook, "secret": "s3cret-Hook_1"}
        forged = {"update_id": 10**6, "message": {
            "message_id": 1, "date": int(time.time()), "text": "Поддельное заявление.",
            "from": api.user(ADMIN), "chat": {"id": ADMIN, "type": "private"}}}
        request = urllib.request.Request(hook, data=json.dumps(forged).encode(), headers={
            "Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": "guessed"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 401
        api.send_text(ADMIN, "Школы готовы к учебному году.")
        api.wait_for(to(ADMIN, r"Сохранено: #2\b"))  # the forged post stored nothing
        api.send_text(USER, "курс рубля")
        api.wait_for(to(USER, r"<b>рубля</b> укрепился"))
    finally:
        assert process.stop() == 0, process.output()[-3000:]
    assert "s3cret-Hook_1" not in process.output() and set(api.state()["webhook_answers"]) == {200}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_webhook_replicas_and_two_workers_do_everything_once(api, tmp_path, backend, request):
    from tests.e2e import free_port, wait_for_job_runs
    ports = [free_port(), free_port()]
    metrics_ports = [free_port(), free_port()]
    store = {"DATABASE_PATH": str(tmp_path / "shared.sqlite3")}
    if backend == "postgres":
        store = {"DATABASE_URL": asyncio.run(create_postgres_database(request.getfixturevalue("postgres_url")))}
    shared = {"ADMIN_IDS": str(ADMIN), "WEBHOOK_URL": "https://bot.example.org/hook",
              "WEBHOOK_SECRET": "replicas-secret", **store}
    api.balance(*(f"http://127.0.0.1:{p}/hook" for p in ports))
    processes = [BotProcess(api, tmp_path, "run", "--webhook", "--no-worker", name=f"replica{n}",
                            WEBHOOK_LISTEN=f"127.0.0.1:{p}", METRICS_LISTEN=f"127.0.0.1:{m}", **shared)
                 for n, (p, m) in enumerate(zip(ports, metrics_ports, strict=True))]
    processes += [BotProcess(api, tmp_path, "worker", "--poll", "0.2", name=f"worker{n}", **shared)
                  for n in range(2)]
    users = [USER, USER + 1, USER + 2]
    try:
        for user in users:
            api.send_text(user, "/start")
            api.wait_for(to(user, r"подписаны"), timeout=40)
        for n in range(1, 7):
            api.send_text(ADMIN, f"Заявление номер {n} о ремонте дорог в районе {n}.")
        for n in range(1, 7):
            api.wait_for(to(ADMIN, rf"📝 #{n} кратко"), timeout=40)
        api.send_text(ADMIN, "/senddigest")
        for user in users:  # sent by the lease holder at its next tick: "within a minute", the bot says
            api.wait_for(to(user, r"^<b>Дайджест"), timeout=70)
        # Each replica's notice job has run once more from start to end: a notice taken twice would be sent now.
        wait_for_job_runs(metrics_ports, "summary-notices", runs=2)
        texts = [(r["chat_id"], r["text"]) for r in api.sent()]
        for n in range(1, 7):
            assert sum(1 for c, t in texts if c == ADMIN and t.startswith(f"✅ Сохранено: #{n}.")) == 1
            assert sum(1 for c, t in texts if c == ADMIN and t.startswith(f"📝 #{n} кратко")) == 1
        for user in users:
            assert sum(1 for c, t in texts if c == user and t.startswith("<b>Дайджест")) == 1
    finally:
        codes = [p.stop() for p in processes]
    outputs = [p.output() for p in processes]
    assert codes == [0, 0, 0, 0], "\n".join(o[-2000:] for o in outputs)
    assert all("is handled" in o for o in outputs[:2])  # both replicas took updates


def test_two_subscribers_with_different_filters_get_different_digests(api, bot):
    """Through the real bot process and a Bot API server: /follow and /mute shape each subscriber's digest."""
    for n, text in enumerate(["Курс рубля укрепился на торгах Московской биржи.",
                              "Евросоюз ввёл новые санкции против банков.",
                              "Футбольный клуб выиграл матч чемпионата."], start=1):
        api.send_text(ADMIN, text)
        api.wait_for(to(ADMIN, rf"Сохранено: #{n}\b"))
    follower, muter = USER, USER + 1
    for user in (follower, muter):
        api.send_text(user, "/start")
        api.wait_for(to(user, r"Вы подписаны"))
    api.send_text(follower, "/follow санкции")
    api.wait_for(to(follower, r"Слежу за «санкции»"))
    api.send_text(muter, "/mute футбол*")
    api.wait_for(to(muter, r"Скрываю сюжеты"))
    api.send_text(ADMIN, "/senddigest")
    followed = api.wait_for(to(follower, r"^<b>Дайджест"))["text"]
    muted = api.wait_for(to(muter, r"^<b>Дайджест"))["text"]
    lines = [ln for ln in followed.splitlines() if ln.startswith(("⭐", "•"))]
    assert lines[0].startswith("⭐") and "санкции" in lines[0] and "Футбольный" in followed
    assert "Футбольный" not in muted and "⭐" not in muted and "скрыто вашими фильтрами: 1" in muted


def test_an_admin_adds_a_feed_and_a_channel_and_their_news_reach_the_digest(api, tmp_path):
    with feed_server_thread() as feeds:
        bot = BotProcess(api, tmp_path, ADMIN_IDS=str(ADMIN), SOURCES_ALLOW_PRIVATE="true",
                         SOURCES_CHANNEL_BASE=feeds.url("/s/"))
        try:
            api.send_text(ADMIN, f"/addsource {feeds.url('/rss2.xml')}")
            api.wait_for(to(ADMIN, r"Источник #1 добавлен: <b>Пресс-служба"))
            api.send_text(ADMIN, "/addsource https://t.me/gov_news")
            api.wait_for(to(ADMIN, r"Источник #2 добавлен: <b>Тестовый канал новостей</b> \(канал Telegram\)"))
            api.send_text(USER, "/start")
            api.wait_for(to(USER, r"Вы подписаны"))
            api.send_text(ADMIN, "/senddigest")
            digest = api.wait_for(to(USER, r"^<b>Дайджест"))["text"]
            assert '<a href="https://economy.example.ru/news/1001">оригинал</a>' in digest
            assert f'<a href="{feeds.url("/gov_news/42")}">оригинал</a>' in digest
            api.send_text(ADMIN, "/sources")
            listing = api.wait_for(to(ADMIN, r"^<b>Источники \(2\)"))["text"]
            assert "3 сообщения" in listing and "2 сообщения" in listing
        finally:
            code = bot.stop()
        assert code == 0, bot.output()[-3000:]


def test_a_channels_digest_goes_out_once_across_a_restart_and_inline_search_answers(api, tmp_path):
    channel = -1009876543210
    api.channel("e2e_news", channel, "Новости e2e")
    bot = BotProcess(api, tmp_path, ADMIN_IDS=str(ADMIN), DIGEST_MAX_STORIES="1")
    try:
        api.send_text(ADMIN, "/channel @e2e_news")
        api.wait_for(to(ADMIN, r"Канал «Новости e2e» \(@e2e_news\) подключён"), timeout=40)
        for n in range(1, 13):
            api.send_text(ADMIN, f"В Казани открыли станцию метро номер {n}. Её ждали {n + 2} года.")
            api.wait_for(to(ADMIN, rf"Сохранено: #{n}\b"))
        api.send_text(ADMIN, "Синоптики обещают жару до конца недели.")  # a second story: one is left over
        api.wait_for(to(ADMIN, r"Сохранено: #13\b"))
        api.send_text(ADMIN, "/senddigest")
        api.wait_for(to(channel, r"^<b>Дайджест"), timeout=40)

        def answer(query_id):
            return api.wait_for(lambda r: r.get("inline_query_id") == query_id)

        first = answer(api.inline(USER, "метро"))
        assert len(first["results"]) == 10 and first["next_offset"] == "10"
        assert first["results"][0]["input_message_content"]["message_text"].startswith("<b>В Казани открыли")
        second = answer(api.inline(USER, "метро", first["next_offset"]))
        assert len(second["results"]) == 2 and second["next_offset"] == ""
        assert answer(api.inline(USER, "🔥 -"))["results"] == []
    finally:
        code = bot.stop()
    assert code == 0, bot.output()[-3000:]
    restarted = BotProcess(api, tmp_path, ADMIN_IDS=str(ADMIN), DIGEST_MAX_STORIES="1", name="restarted")
    try:
        before = len(api.sent())
        api.send_text(ADMIN, "/senddigest")  # after the start's own tick: today's slot is taken
        done = api.wait_for(to(ADMIN, r"^Готово\."), timeout=40, after=before)
        assert "уже получили сегодня: 1" in done["text"]  # that tick found the channel served: no second post
    finally:
        code = restarted.stop()
    assert code == 0, restarted.output()[-3000:]
    posts = [r for r in api.sent() if r["chat_id"] == channel and r["text"].startswith("<b>Дайджест")]
    assert len(posts) == 1
    (button,) = posts[0]["reply_markup"]["inline_keyboard"][0]  # a link to the bot, not a callback a reader
    assert button["url"].startswith("https://t.me/digest_test_bot?start=more")  # would post with


def test_a_channel_that_took_the_bots_rights_is_marked_and_its_admin_told_once(api, bot):
    channel = -1001112223334
    api.channel("e2e_rights", channel, "Права")
    api.send_text(ADMIN, "/channel @e2e_rights")
    api.wait_for(to(ADMIN, r"подключён"), timeout=40)
    api.send_text(ADMIN, "Школы готовы к учебному году.")
    api.wait_for(to(ADMIN, r"Сохранено: #1\b"))
    api.channel("e2e_rights", channel, "Права", bot_can_post=False)  # the channel's owner took the right to post
    api.send_text(ADMIN, "/senddigest")
    api.wait_for(to(ADMIN, r"^Готово\."), timeout=40)
    api.send_text(ADMIN, "/channel")
    listing = api.wait_for(to(ADMIN, r"^<b>Каналы с дайджестом"))["text"]
    assert "⚠ Bad Request: not enough rights" in listing
    told = [r for r in api.sent() if r["chat_id"] == ADMIN and r["text"].startswith("⚠ Канал @e2e_rights")]
    assert len(told) == 1 and not [r for r in api.sent() if r["chat_id"] == channel]
