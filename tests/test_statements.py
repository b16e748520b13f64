from datetime import date

import pytest

from storage.statements import MAX_TEXT_CHARS, StatementError, clean_text, content_hash, parse_statement


def test_date_line_sets_statement_date_and_is_removed():
    item = parse_statement("date 2025-08-09\nВ Казани открыли станцию метро.")
    assert item.statement_date == date(2025, 8, 9)
    assert item.text == "В Казани открыли станцию метро."


def test_without_date_line_the_date_is_left_to_arrival():
    assert parse_statement("Курс рубля укрепился.").statement_date is None


def test_impossible_date_is_rejected_with_reason():
    with pytest.raises(StatementError, match="дата"):
        parse_statement("date 2025-02-30\nТекст.")


@pytest.mark.parametrize("raw", ["", "   \n\t ", "date 2025-08-09\n", "\u200b\u200b", "... — !!!"])
def test_empty_statements_are_rejected(raw):
    with pytest.raises(StatementError):
        parse_statement(raw)


def test_huge_statement_is_rejected():
    with pytest.raises(StatementError):
        parse_statement("слово " * (MAX_TEXT_CHARS // 4))


def test_cleaning_drops_invisible_characters_and_extra_spaces():
    assert clean_text("Курс\u00a0\u00a0рубля\u200b  укрепился\r\n\r\n\r\n\r\nДа") == "Курс рубля укрепился\n\nДа"


def test_hash_ignores_case_whitespace_and_yo():
    assert content_hash("Ещё  один\nТЕКСТ") == content_hash("еще один текст")
    assert content_hash("один текст") != content_hash("другой текст")


def test_html_is_kept_as_text():
    assert parse_statement("<b>Жирный</b> & текст").text == "<b>Жирный</b> & текст"


def test_control_characters_and_lone_surrogates_are_dropped():
    item = parse_statement("Нуль\x00 байт\x07 и\x1b[31m цвет\x7f\ud800.\tТаб")
    assert item.text == "Нуль байт и[31m цвет. Таб"


def test_statement_dates_must_be_sane():
    today = date(2025, 8, 9)
    assert parse_statement("date 2025-08-10\nЗавтрашнее.", today=today).statement_date == date(2025, 8, 10)
    for line in ("date 2025-08-11", "date 9999-12-31", "date 1000-01-01"):
        with pytest.raises(StatementError, match="вне допустимого диапазона"):
            parse_statement(f"{line}\nТекст.", today=today)
    with pytest.raises(StatementError):
        parse_statement("Текст.", statement_date=date(9999, 12, 31), today=today)  # a jsonl date field


def test_titles_are_capped_at_a_word():
    title = parse_statement("x.", title="Очень " * 100).title
    assert len(title) <= 300 and title.endswith("Очень…")
    assert parse_statement("x.", title="&" * 1000).title == "&" * 299 + "…"
