import logging
from datetime import date

import pytest

from digest.maker import DigestMaker
from digest.markup import escape
from storage.items import ItemsRepo
from storage.statements import parse_statement
from storage.summaries import SummariesRepo
from summarizer.backends.extractive import ExtractiveBackend
from summarizer.backends.seq2seq import CTranslate2Backend, TransformersBackend, convert_to_ctranslate2, fit_to_window
from summarizer.loader import LazySummarizer, SummarizerConfig, load_backend
from summarizer.text import MAX_SUMMARY_CHARS, clean_summary, sentences
from summarizer.worker import StatementWorker

TEXTS = [
    "В Казани открыли новую станцию метро. Она примет двадцать тысяч пассажиров в сутки. Мэр доволен.",
    "Курс рубля укрепился на открытии торгов Московской биржи.",
    "Синоптики предупредили о сильной жаре в Москве. Врачи советуют пить больше воды.",
]


def test_sentences_split_russian_text_with_abbreviations():
    assert sentences("Встреча прошла в г. Москве. Участники обсудили бюджет.\nВторой абзац!") == [
        "Встреча прошла в г. Москве.", "Участники обсудили бюджет.", "Второй абзац!"]
    assert sentences("Т.е. рост составил 5 млн руб. за год. Итоги подвёл мин. финансов.") == [
        "Т.е. рост составил 5 млн руб. за год.", "Итоги подвёл мин. финансов."]
    # Known limit of razdel: a month abbreviation before a year ends a sentence ("5 авг. 2025 г.").


def test_clean_summary_keeps_whole_sentences_and_ends_with_punctuation():
    assert clean_summary("курс рубля вырос") == "Курс рубля вырос."
    long = "Первое предложение о бюджете. Второе " + " ".join(f"слово{i}" for i in range(40)) + "."
    assert clean_summary(long, 100) == "Первое предложение о бюджете."


def test_clean_summary_removes_repeats():
    assert clean_summary("Цены выросли. Цены выросли. Рубль упал.") == "Цены выросли. Рубль упал."
    assert clean_summary("В Москве в Москве в Москве прошёл дождь.") == "В Москве прошёл дождь."


def test_clean_summary_cuts_one_overlong_sentence_at_a_word():
    out = clean_summary(" ".join(f"слово{i}" for i in range(200)))
    assert len(out) <= MAX_SUMMARY_CHARS and out.endswith("…")
    assert out[:-1].split()[-1] in {f"слово{i}" for i in range(200)}


def test_extractive_picks_whole_sentences_from_the_text():
    text = ("Правительство утвердило новый бюджет на следующий год. Расходы на образование вырастут на десять "
            "процентов. Погода была солнечной. Бюджет предусматривает рост расходов на здравоохранение.")
    summary = ExtractiveBackend().summarize_one(text)
    assert "бюджет" in summary.lower() and "Погода" not in summary
    assert all(s in text for s in sentences(summary))


def test_extractive_handles_odd_input():
    backend = ExtractiveBackend()
    assert backend.summarize(["Одно предложение без точки", "🙂 🙂 🙂 текст", "a" * 5000]) == [
        "Одно предложение без точки.", "🙂 🙂 🙂 текст.", "A" + "a" * (MAX_SUMMARY_CHARS - 2) + "…"]


def test_transformers_backend_runs_the_real_model_path(tiny_model_dir):
    backend = TransformersBackend(tiny_model_dir)
    out = backend.summarize(TEXTS)
    assert len(out) == 3 and backend.name == "tiny-rut5"
    for summary in out:
        assert summary and len(summary) <= MAX_SUMMARY_CHARS and summary[-1] in ".!?…»\")"


def test_long_input_is_cut_at_a_sentence_inside_the_window(tiny_model_dir):
    backend = TransformersBackend(tiny_model_dir)
    long = " ".join(f"Предложение номер {i} о строительстве метро в Казани." for i in range(300))
    fitted = fit_to_window(backend.tokenizer, long, 100)
    assert len(backend.tokenizer(fitted)["input_ids"]) <= 100
    assert fitted.startswith("Предложение номер 0 ") and fitted.endswith(".")
    assert len(backend.summarize([long])) == 1


def test_ctranslate2_backend_from_the_same_checkpoint(tiny_model_dir, tmp_path):
    out_dir = convert_to_ctranslate2(tiny_model_dir, str(tmp_path / "ct2"))
    backend = CTranslate2Backend(out_dir, name="tiny (ct2-int8)")
    out = backend.summarize(TEXTS)
    assert len(out) == 3 and all(s and s[-1] in ".!?…»\")" for s in out)


def test_auto_prefers_a_converted_copy(tiny_model_dir, tmp_path):
    out_dir = convert_to_ctranslate2(tiny_model_dir, str(tmp_path / "ct2"))
    backend = load_backend(SummarizerConfig(model=tiny_model_dir, ct2_dir=out_dir))
    assert isinstance(backend, CTranslate2Backend)
    backend = load_backend(SummarizerConfig(model=tiny_model_dir, ct2_dir=str(tmp_path / "none")))
    assert isinstance(backend, TransformersBackend)


def test_missing_model_falls_back_to_extractive_and_says_so_once(tmp_path, caplog):
    summarizer = LazySummarizer(SummarizerConfig(model=str(tmp_path / "no-such-model")))
    with caplog.at_level(logging.INFO):
        first = summarizer.summarize(TEXTS)
        second = summarizer.summarize(TEXTS[:1])
    assert [m for _, m in first + second] == ["extractive"] * 4
    assert first[0][0].startswith("В Казани открыли новую станцию метро")
    said = [r for r in caplog.records if "cannot be loaded" in r.message]
    assert len(said) == 1 and said[0].levelno == logging.INFO  # expected on a machine without weights


def test_a_model_backend_chosen_by_name_that_cannot_load_is_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        backend = load_backend(SummarizerConfig(model=str(tmp_path / "no-such-model"), backend="transformers"))
    assert backend.name == "extractive"
    assert [r.levelno for r in caplog.records if "cannot be loaded" in r.message] == [logging.WARNING]


def test_model_failure_on_a_batch_falls_back_for_that_batch(tiny_model_dir, monkeypatch):
    summarizer = LazySummarizer(SummarizerConfig(model=tiny_model_dir))
    monkeypatch.setattr(summarizer.backend, "summarize", lambda texts: 1 / 0)
    assert {m for _, m in summarizer.summarize(TEXTS)} == {"extractive"}


async def test_worker_summarizes_in_batches_once_and_records_the_model(db, tiny_model_dir):
    items = ItemsRepo(db)
    await items.add_many([parse_statement(f"Новость номер {i}. Курс рубля укрепился.") for i in range(20)])
    summarizer = LazySummarizer(SummarizerConfig(model=tiny_model_dir))
    calls = []
    backend = summarizer.backend
    original = backend.summarize
    backend.summarize = lambda texts: calls.append(len(texts)) or original(texts)
    worker = StatementWorker(db, summarizer, batch_size=8)
    seen = []

    async def listener(done):
        seen.extend(s.item_id for s in done)

    worker.listeners.append(listener)
    assert await worker.drain() == 20
    assert calls == [8, 8, 4]
    assert sorted(seen) == list(range(1, 21))
    assert await SummariesRepo(db).count_by_method() == {"tiny-rut5": 20}
    assert await worker.drain() == 0  # once


async def test_background_worker_picks_up_new_items(db):
    import asyncio
    worker = StatementWorker(db, LazySummarizer(SummarizerConfig(model="x", backend="extractive")))
    worker.start()
    try:
        item_id = (await ItemsRepo(db).add(parse_statement("Новое заявление о ремонте школ."))).item_id
        worker.notify()
        for _ in range(100):
            if await SummariesRepo(db).get(item_id):
                break
            await asyncio.sleep(0.02)
        assert (await SummariesRepo(db).get(item_id)).summary == "Новое заявление о ремонте школ."
    finally:
        await worker.stop()


@pytest.mark.parametrize("size", [1, 3])
def test_batch_sizes_give_one_summary_per_text(tiny_model_dir, size):
    assert len(TransformersBackend(tiny_model_dir).summarize(TEXTS[:size])) == size


def test_tokenizer_with_token_type_ids_still_works(tiny_model_dir, tmp_path):
    """Some fast tokenizers return token_type_ids, which seq2seq generate() refuses."""
    import shutil

    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace
    from transformers import PreTrainedTokenizerFast

    model_dir = tmp_path / "word-level"
    shutil.copytree(tiny_model_dir, model_dir)
    for name in ("spiece.model", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json"):
        (model_dir / name).unlink(missing_ok=True)
    words = sorted({w for t in TEXTS for w in t.lower().replace(".", " .").split()})
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(words)}}
    word_level = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    word_level.pre_tokenizer = Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=word_level, pad_token="<pad>", eos_token="</s>",
                                   unk_token="<unk>",
                                   model_input_names=["input_ids", "token_type_ids", "attention_mask"])
    assert "token_type_ids" in fast(["текст"])
    fast.save_pretrained(model_dir)
    assert len(TransformersBackend(str(model_dir)).summarize(TEXTS)) == 3


async def test_a_headline_model_heads_a_post_whose_first_line_is_no_headline(db, tiny_model_dir, tmp_path):
    # HEADLINE_MODEL through the real path: a CTranslate2 copy of a tiny checkpoint, run by the worker beside the
    # summarizer; the digest line of a paragraph post is the model's line, a post with a headline line keeps it.
    ct2 = convert_to_ctranslate2(tiny_model_dir, str(tmp_path / "ct2"))
    headliner = LazySummarizer(SummarizerConfig(model=tiny_model_dir, ct2_dir=ct2))
    summarizer = LazySummarizer(SummarizerConfig(model="", backend="extractive"))
    items = ItemsRepo(db)
    paragraph, headed = [r.item_id for r in await items.add_many([
        parse_statement("date 2025-08-09\nВ Казани открыли новую станцию метро. Она примет тысячи пассажиров."),
        parse_statement("date 2025-08-09\nКурс рубля укрепился на открытии торгов\nБиржа закрылась ростом.")])]
    await StatementWorker(db, summarizer, 8, headliner=headliner).drain(embed=False)
    made = await SummariesRepo(db).get_many([paragraph, headed])
    assert isinstance(headliner.backend, CTranslate2Backend)
    assert made[paragraph].method == "extractive" and made[paragraph].headline  # the summary, and the model's line
    page = (await DigestMaker(db).for_dates(date(2025, 8, 9), date(2025, 8, 9))).messages[0]
    assert escape(sentences(made[paragraph].headline)[0][:40]) in page
    assert "В Казани открыли новую станцию метро." not in page
    assert "• Курс рубля укрепился на открытии торгов" in page


async def test_without_a_headline_model_nothing_is_stored_beside_the_summary(db, tmp_path):
    items = ItemsRepo(db)
    (item_id,) = [r.item_id for r in await items.add_many([parse_statement("Курс рубля укрепился на торгах.")])]
    broken = LazySummarizer(SummarizerConfig(model=str(tmp_path / "no-such-model")))
    summarizer = LazySummarizer(SummarizerConfig(model="", backend="extractive"))
    await StatementWorker(db, summarizer, 8, headliner=broken).drain(embed=False)
    assert (await SummariesRepo(db).get(item_id)).headline is None
