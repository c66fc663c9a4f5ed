"""Chat exports as inputs: Telegram Desktop JSON, WhatsApp .txt, "[date] name: text" logs.

Every export is built here in the shape the app writes it (Telegram Desktop: ``indent=1``,
UTF-8 unescaped, entity lists; WhatsApp: per-locale date formats, U+200E and U+202F marks).
"""

import csv
import gzip
import json
import os
import tracemalloc

import pytest
from click.testing import CliRunner

from classifier import readers
from classifier.chat_exports import MAX_JSON_TOKEN
from classifier.cli import cli
from classifier.errors import InputError
from classifier.readers import MAX_CHARS, Input, detect_format

from .conftest import model_opts

APPEAL = "Мамо, я в полоні. Виходьте на Майдан, вимагайте обміну, влада нас кинула"


def _records(path, **kw):
    source = Input(path, **kw)
    return source, list(source.records())


def _write_json(path, obj, gz=False, bom=False):
    data = json.dumps(obj, ensure_ascii=False, indent=1).encode("utf-8")
    data = (b"\xef\xbb\xbf" if bom else b"") + data
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def _tg_message(i, text, **fields):
    return {
        "id": i,
        "type": "message",
        "date": f"2024-03-{10 + i % 9:02d}T21:14:0{i % 10}",
        "date_unixtime": "1710270845",
        "from": fields.pop("sender", "Оля"),
        "from_id": "user1000",
        "text": text,
        "text_entities": [],
        **fields,
    }


def _full_account_export():
    """A full-account export: personal data and contacts first, then two chats and a left chat."""
    chat1 = [
        _tg_message(1, "Привіт, як справи?"),
        {
            "id": 2,
            "type": "service",
            "date": "2024-03-11T10:00:00",
            "actor": "Оля",
            "actor_id": "user1000",
            "action": "invite_members",
            "members": ["Петро"],
            "text": "",
            "text_entities": [],
        },
        _tg_message(
            3,
            [
                "Мамо, ",
                {"type": "bold", "text": "виходьте на Майдан"},
                ", дивись ",
                {"type": "link", "text": "https://t.me/x"},
                " і ",
                {"type": "mention", "text": "@petro"},
                {"type": "text_link", "text": " тут", "href": "https://example.org"},
            ],
            forwarded_from="Канал полонених",
        ),
        _tg_message(4, "", photo="photos/photo_1@12-03-2024_21-14-05.jpg", width=800, height=600),
        _tg_message(5, "", file="stickers/sticker.webp", media_type="sticker", sticker_emoji="😀"),
        _tg_message(6, "підпис до фото", photo="photos/photo_2.jpg"),
        {"id": 7, "type": "service", "date": "2024-03-12T10:00:00", "actor": "Оля", "action": "pin_message",
         "message_id": 3, "text": "", "text_entities": []},
    ]  # fmt: skip
    chat2 = [_tg_message(1, "друга розмова", sender=None)]
    left = [_tg_message(1, "покинутий чат")]
    return {
        "about": "Here is the data you requested. Remember: Telegram is ad free...",
        "personal_information": {"user_id": 1, "first_name": "Я", "phone_number": "+380 00 000 0000"},
        "contacts": {
            "about": "...",
            "list": [{"first_name": f"c{i}", "phone_number": "+1"} for i in range(50)],
        },
        "chats": {
            "about": "This page lists all chats from this export.",
            "list": [
                {"name": "Оля", "type": "personal_chat", "id": 11, "messages": chat1},
                {"name": "Родини полонених", "type": "private_supergroup", "id": 12, "messages": chat2},
            ],
        },
        "left_chats": {
            "about": "...",
            "list": [{"name": "Старий", "type": "public_channel", "id": 13, "messages": left}],
        },
    }


def test_telegram_full_account_export_joins_entities_and_keeps_metadata(tmp_path):
    path = _write_json(tmp_path / "result.json", _full_account_export())
    assert detect_format(str(path)) == "telegram"
    source, records = _records(path)
    got = [(r.row, r.text, r.error) for r in records]
    assert got == [
        (1, "Привіт, як справи?", ""),
        (3, "Мамо, виходьте на Майдан, дивись https://t.me/x і @petro тут", ""),
        (4, None, "no text: photo"),
        (5, None, "no text: sticker"),
        (6, "підпис до фото", ""),
        (8, "друга розмова", ""),
        (9, "покинутий чат", ""),
    ]
    assert records[1].meta == {
        "date": "2024-03-13T21:14:03",
        "sender": "Оля",
        "chat": "Оля",
        "forwarded_from": "Канал полонених",
    }
    assert list(records[1].meta) == ["date", "sender", "chat", "forwarded_from"]
    assert records[2].meta["date"] == "2024-03-14T21:14:04"  # error rows keep their metadata
    assert records[5].meta == {"date": "2024-03-11T21:14:01", "sender": None, "chat": "Родини полонених",
                               "forwarded_from": None}  # fmt: skip
    assert records[6].meta["chat"] == "Старий"
    assert source.skipped == {"Telegram service": 2}
    # the metadata is never in the text the model sees
    assert not any("2024-03" in (r.text or "") or "Канал" in (r.text or "") for r in records)


@pytest.mark.parametrize("gz,bom", [(False, False), (True, False), (False, True)])
def test_telegram_single_chat_export_plain_gzip_and_bom(tmp_path, gz, bom):
    export = {"name": "Петро", "type": "personal_chat", "id": 5, "messages": [
        _tg_message(1, ["одне ", {"type": "italic", "text": "слово"}]),
        _tg_message(2, "x" * (MAX_CHARS + 10)),
        _tg_message(3, ""),
    ]}  # fmt: skip
    path = _write_json(tmp_path / ("result.json.gz" if gz else "result.json"), export, gz=gz, bom=bom)
    _, records = _records(path, id_column="id")
    assert [(r.row, r.id, r.text and r.text[:10], r.truncated, r.error) for r in records] == [
        (1, "1", "одне слово", False, ""),
        (2, "2", "x" * 10, True, ""),
        (3, "3", "", False, "empty text"),
    ]
    assert len(records[1].text) == MAX_CHARS
    assert {r.meta["chat"] for r in records} == {"Петро"}


@pytest.mark.parametrize(
    "content,message",
    [
        (b"[1, 2, 3]", "top level is a JSON array"),
        (b'{"users": [{"name": "x"}]}', "not a Telegram Desktop export"),
        (b'{"about": "x", "contacts": {"list": []}}', "no chats or messages"),
        (b"not json at all", "not a Telegram Desktop export"),
    ],
)
def test_json_that_is_not_a_telegram_export_is_refused_in_one_line(tmp_path, content, message):
    path = tmp_path / "data.json"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as err:
        Input(path).check()
    assert "\n" not in str(err.value) and ".jsonl" in str(err.value)


def test_cut_telegram_export_keeps_the_messages_read_and_ends_with_an_error_row(tmp_path):
    data = json.dumps(
        {"name": "c", "messages": [_tg_message(i, f"повідомлення {i}") for i in range(1, 6)]},
        ensure_ascii=False,
    )
    path = tmp_path / "result.json"
    path.write_text(data[: data.index("повідомлення 4") + 5], encoding="utf-8")
    _, records = _records(path)
    assert [r.text for r in records[:3]] == ["повідомлення 1", "повідомлення 2", "повідомлення 3"]
    assert len(records) == 4 and records[3].text is None
    assert records[3].error.startswith("the JSON ends early near byte")
    assert "messages after it were not read" in records[3].error


def _peak(func):
    tracemalloc.start()
    try:
        result = func()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("filler", [b"x", b'\\"', b"7"])
def test_telegram_token_longer_than_the_limit_is_refused_in_bounded_memory(tmp_path, filler):
    """A 40 MB string (plain, or all escaped quotes) or number is refused before it is held."""
    path = tmp_path / "result.json"
    head = b'{"name": "c", "messages": [{"id": 1, "type": "message", "text": "ok"}, {"id": 2, "text": '
    body = b'"' + filler * (40_000_000 // len(filler)) + b'"' if filler != b"7" else filler * 40_000_000
    path.write_bytes(head + body + b"}]}")

    def read():
        with pytest.raises(InputError, match="2 MiB") as err:
            list(Input(path).records())
        return str(err.value)

    message, peak = _peak(read)
    assert "not a Telegram Desktop export" in message or "split" in message
    assert peak < 4 * MAX_JSON_TOKEN


def test_escaped_quotes_and_backslashes_across_read_boundaries_are_not_mistaken_for_long_tokens(tmp_path):
    """Texts full of \\" and \\\\ in a big export: every chunk boundary falls somewhere odd."""
    messages = [_tg_message(i, 'він сказав "мамо" \\ ' * (i % 50) + "кінець") for i in range(1, 20_000)]
    path = _write_json(tmp_path / "result.json", {"name": "c", "messages": messages})
    _, records = _records(path)
    assert len(records) == len(messages) and not any(r.error for r in records)
    assert records[48].text == 'він сказав "мамо" \\ ' * 49 + "кінець"


def test_large_telegram_export_is_read_in_constant_memory(tmp_path):
    """About 12 MB of export, written as a stream; reading it holds about a megabyte."""
    path = tmp_path / "result.json"
    n = 30_000
    text = ["Мамо, ", {"type": "bold", "text": "виходьте"}, " на Майдан"]
    one = json.dumps(_tg_message(0, text, text_entities=text), ensure_ascii=False, indent=1)
    head, tail = one.split('"id": 0', 1)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write('{\n "name": "Великий чат",\n "type": "private_group",\n "id": 1,\n "messages": [\n')
        fh.write(",\n".join(f'{head}"id": {i}{tail}' for i in range(1, n + 1)))
        fh.write("\n ]\n}\n")
    size = os.path.getsize(path)
    assert size > 10e6

    def read():
        count = 0
        for r in Input(path).records():
            assert r.text == "Мамо, виходьте на Майдан" and r.meta["chat"] == "Великий чат"
            count += 1
        return count

    count, peak = _peak(read)
    assert count == n
    assert peak < 3e6, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.0f} MB export"


# --- WhatsApp -----------------------------------------------------------------------------

LRM, NNBSP = "\u200e", "\u202f"

WHATSAPP = {
    # Android, en-GB: day first, four-digit years, 24 h, " - " after the time
    "android-gb": (
        "12/03/2024, 21:14 - Messages and calls are end-to-end encrypted. No one outside of this chat, "
        "not even WhatsApp, can read or listen to them. Tap to learn more.\n"
        "12/03/2024, 21:14 - Оля: Мамо, я в полоні.\n"
        "Виходьте на Майдан, вимагайте обміну\n"
        "\n"
        "влада нас кинула\n"
        "13/03/2024, 08:05 - Петро: <Media omitted>\n"
        "13/03/2024, 08:06 - Петро added Ігор\n"
        "13/03/2024, 08:07 - +380 67 123 4567: купи хліба\n",
        [
            (2, "Мамо, я в полоні.\nВиходьте на Майдан, вимагайте обміну\n\nвлада нас кинула", "",
             "2024-03-12T21:14", "Оля"),
            (6, None, "no text: Media omitted", "2024-03-13T08:05", "Петро"),
            (8, "купи хліба", "", "2024-03-13T08:07", "+380 67 123 4567"),
        ],
        {"WhatsApp system": 2},
    ),
    # iPhone, Ukrainian/Russian locale: brackets, dotted dates, two-digit years, seconds, U+200E marks
    "ios-uk": (
        f"[12.03.24, 21:14:05] Родина: {LRM}Повідомлення та дзвінки захищені наскрізним шифруванням.\n"
        "[12.03.24, 21:14:05] Оля: Мамо, я в полоні.\n"
        "Виходьте на Майдан\n"
        f"{LRM}[13.03.24, 08:05:00] Петро: {LRM}зображення пропущено\n"
        f"{LRM}[13.03.24, 08:05:30] Петро: {LRM}<attached: 00000012-PHOTO-2024-03-13-08-05-30.jpg>\n"
        f"[13.03.24, 08:06:00] Родина: {LRM}Петро додав(-ла) Ігор\n"
        "[14.03.24, 09:00:00] Оля: Это сообщение удалено\n"
        "[14.03.24, 09:01:00] Ігор: все добре\n",
        [
            (2, "Мамо, я в полоні.\nВиходьте на Майдан", "", "2024-03-12T21:14:05", "Оля"),
            (4, None, "no text: зображення пропущено", "2024-03-13T08:05:00", "Петро"),
            (5, None, "no text: attached: 00000012-PHOTO-2024-03-13-08-05-30.jpg", "2024-03-13T08:05:30",
             "Петро"),
            (7, None, "no text: message deleted", "2024-03-14T09:00:00", "Оля"),
            (8, "все добре", "", "2024-03-14T09:01:00", "Ігор"),
        ],
        {"WhatsApp system": 2},
    ),
    # Android, en-US: month first, two-digit years, 12 h with a narrow no-break space before PM
    "android-us": (
        f"3/12/24, 9:14{NNBSP}PM - Olya: Mom, I'm a prisoner.\n"
        "Go out and protest\n"
        f"3/13/24, 12:05{NNBSP}AM - Petro: <Медіа пропущено>\n"
        f"3/13/24, 12:30{NNBSP}PM - Petro: This message was deleted\n"
        f"3/14/24, 7:01{NNBSP}AM - Olya: fine\n",
        [
            (1, "Mom, I'm a prisoner.\nGo out and protest", "", "2024-03-12T21:14", "Olya"),
            (3, None, "no text: Медіа пропущено", "2024-03-13T00:05", "Petro"),
            (4, None, "no text: message deleted", "2024-03-13T12:30", "Petro"),
            (5, "fine", "", "2024-03-14T07:01", "Olya"),
        ],
        {},
    ),
}  # fmt: skip


@pytest.mark.parametrize("locale", sorted(WHATSAPP))
def test_whatsapp_exports_in_three_locales(tmp_path, locale):
    content, expected, skipped = WHATSAPP[locale]
    path = tmp_path / "WhatsApp Chat with Оля.txt"
    path.write_text(content, encoding="utf-8")
    assert detect_format(str(path)) == "whatsapp"
    source, records = _records(path)
    assert [(r.row, r.text, r.error, r.meta["date"], r.meta["sender"]) for r in records] == expected
    assert {r.meta["chat"] for r in records} == {"Оля"}  # from the file name WhatsApp gives it
    assert all(r.meta["forwarded_from"] is None for r in records)
    assert source.skipped == skipped


def _whatsapp_lines(dates):
    return "".join(f"{d}, 10:00 - Оля: повідомлення {i}\n" for i, d in enumerate(dates, 1))


@pytest.mark.parametrize(
    "dates,expected",
    [
        # one day above 12 anywhere in the file decides for every row, also the rows before it
        (["03/04/2024", *["05/06/2024"] * 3000, "03/13/2024"], ["2024-03-04", "2024-03-13"]),
        (["03/04/2024", "25/04/2024"], ["2024-04-03", "2024-04-25"]),
        # no evidence either way: ambiguous, the dates stay as written
        (["03/04/2024", "05/06/2024"], ["03/04/2024, 10:00", "05/06/2024, 10:00"]),
        # contradicting evidence (13 first and 13 second): also kept as written
        (["13/04/2024", "04/13/2024"], ["13/04/2024, 10:00", "04/13/2024, 10:00"]),
        # dotted dates are day first in every locale that writes them
        (["03.04.24", "05.06.24"], ["2024-04-03", "2024-06-05"]),
    ],
)
def test_whatsapp_day_or_month_first_is_decided_over_the_whole_file(tmp_path, dates, expected):
    path = tmp_path / "chat.txt"
    path.write_text(_whatsapp_lines(dates), encoding="utf-8")
    _, records = _records(path)
    got = [records[0].meta["date"], records[-1].meta["date"]]
    assert [g[: len(e)] for g, e in zip(got, expected, strict=True)] == expected
    if "T" in expected[0]:
        assert got[0].endswith("T10:00")


def test_whatsapp_from_a_pipe_decides_the_date_order_from_its_start(tmp_path):
    fifo = tmp_path / "chat.fifo"
    os.mkfifo(fifo)
    import threading

    content = _whatsapp_lines(["03/04/2024", "25/04/2024"]).encode()
    writer = threading.Thread(target=lambda: open(fifo, "wb").write(content))
    writer.start()
    try:
        _, records = _records(fifo, fmt="whatsapp")
    finally:
        writer.join()
    assert [r.meta["date"] for r in records] == ["2024-04-03T10:00", "2024-04-25T10:00"]


def test_forced_whatsapp_format_makes_lines_before_the_first_message_error_rows(tmp_path):
    path = tmp_path / "chat.log"
    path.write_text("заголовок експорту\n12/03/2024, 21:14 - Оля: привіт\n", encoding="utf-8")
    _, records = _records(path, fmt="whatsapp")
    assert [(r.row, r.text, r.error) for r in records] == [
        (1, None, "not a WhatsApp message line (date, time, sender: text), and no message before it"),
        (2, "привіт", ""),
    ]


def test_whatsapp_and_chatlog_refuse_an_id_column(tmp_path):
    path = tmp_path / "chat.txt"
    path.write_text("12/03/2024, 21:14 - Оля: привіт\n", encoding="utf-8")
    with pytest.raises(InputError, match="--id-column"):
        Input(path, id_column="id").check()


def test_generic_chat_log(tmp_path):
    path = tmp_path / "log.txt"
    path.write_text(
        "[14.02.24 18:30] Unknown: Мамо, виходьте на Майдан\n"
        "друга строка\n"
        "[2024-02-14 18:31:05] Оля: купи хліба\n"
        "[14.02.24 18:32] повідомлення без імені\n",
        encoding="utf-8",
    )
    assert detect_format(str(path)) == "chatlog"
    _, records = _records(path)
    assert [(r.row, r.text, r.meta["date"], r.meta["sender"]) for r in records] == [
        (1, "Мамо, виходьте на Майдан\nдруга строка", "2024-02-14T18:30", "Unknown"),
        (3, "купи хліба", "2024-02-14T18:31:05", "Оля"),
        (4, "повідомлення без імені", "2024-02-14T18:32", None),
    ]


@pytest.mark.parametrize(
    "content,expected",
    [
        ("Мамо, виходьте на Майдан\nкупи хліба\n", "txt"),
        # a message that quotes a WhatsApp line later, or in its middle, is still a message per line
        ("купи хліба\n12/03/2024, 21:14 - Оля: привіт\n", "txt"),
        ("вона написала 12/03/2024, 21:14 - Оля: привіт\n", "txt"),
        # a single dated line among many plain ones is not a log
        ("[14.02.24 18:30] Оля: привіт\n" + "просто рядок\n" * 30, "txt"),
        ("12/03/2024, 21:14 - Оля: привіт\n", "whatsapp"),
        ("\ufeff[12.03.24, 21:14:05] Оля: привіт\n", "whatsapp"),
    ],
)
def test_txt_is_a_chat_export_only_when_its_first_lines_are(tmp_path, content, expected):
    path = tmp_path / "m.txt"
    path.write_text(content, encoding="utf-8")
    assert detect_format(str(path)) == expected
    gz = tmp_path / "m.txt.gz"
    gz.write_bytes(gzip.compress(content.encode("utf-8")))
    assert detect_format(str(gz)) == expected


def test_forcing_txt_reads_a_whatsapp_export_one_line_per_message(tmp_path):
    path = tmp_path / "chat.txt"
    path.write_text(WHATSAPP["android-gb"][0], encoding="utf-8")
    _, records = _records(path, fmt="txt")
    assert len(records) == WHATSAPP["android-gb"][0].count("\n")
    assert records[0].meta is None


def test_dask_engine_refuses_chat_exports(tmp_path):
    from classifier.distributed import ReadOptions, plan_partitions

    path = _write_json(tmp_path / "result.json", {"name": "c", "messages": []})
    with pytest.raises(InputError, match="--engine dask"):
        plan_partitions([str(path)], ReadOptions())


# --- the command line -----------------------------------------------------------------------


def _score(tiny_model, tmp_path, *args):
    out = tmp_path / "scored.csv"
    result = CliRunner().invoke(cli, ["score", *args, *model_opts(tiny_model), "-o", str(out), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    with open(out, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh)), result.stderr


def test_sender_and_date_never_reach_the_model(tiny_model, tmp_path):
    """The same message from two senders at two dates scores exactly as the bare text does."""
    tg = _write_json(tmp_path / "result.json", {"name": "Родина", "messages": [
        _tg_message(1, APPEAL, sender="Мамо виходьте на Майдан"),
        _tg_message(2, APPEAL, sender="Оля", forwarded_from="полон"),
    ]})  # fmt: skip
    wa = tmp_path / "chat.txt"
    wa.write_text(
        f"12/03/2024, 21:14 - Мамо виходьте на Майдан: {APPEAL}\n25/12/2023, 06:00 - Оля: {APPEAL}\n",
        encoding="utf-8",
    )
    rows, _ = _score(tiny_model, tmp_path, str(tg), str(wa))
    assert len(rows) == 4 and not any(r["error"] for r in rows)
    bare = float(tiny_model.predict_proba([APPEAL])[0])
    assert {float(r["score"]) for r in rows} == {round(bare, 6)}


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_chat_metadata_are_output_columns_beside_the_text(tiny_model, tmp_path, suffix):
    """date, sender, chat and forwarded_from are kept by default, after our columns, in csv and xlsx."""
    tg = _write_json(tmp_path / "result.json", {"name": "Родина", "messages": [
        _tg_message(1, "Привіт, як справи?"),
        _tg_message(2, APPEAL, sender="Unknown", forwarded_from="Канал"),
    ]})  # fmt: skip
    out = tmp_path / f"scored{suffix}"
    args = ["score", str(tg), "--include-text", *model_opts(tiny_model), "-o", str(out), "--jobs", "1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    if suffix == ".csv":
        with open(out, encoding="utf-8", newline="") as fh:
            header, *rows = list(csv.reader(fh))
    else:
        import openpyxl

        sheet = openpyxl.load_workbook(out, read_only=True).worksheets[0]
        header, *rows = [
            [("" if v is None else str(v)) for v in r] for r in sheet.iter_rows(values_only=True)
        ]
        rows = [r + [""] * (len(header) - len(r)) for r in rows]  # read-only mode drops trailing empty cells
    assert header[-5:] == ["text", "date", "sender", "chat", "forwarded_from"]
    assert len(rows) == 2 and all(len(r) == len(header) for r in rows)
    second = dict(zip(header, rows[1], strict=True))
    assert second["text"] == APPEAL and second["sender"] == "Unknown" and second["chat"] == "Родина"
    assert second["forwarded_from"] == "Канал" and second["date"].startswith("2024-03-")


def _score_in_order(tiny_model, tmp_path, inputs, *options):
    """Score INPUTS in that order to one CSV; no column may be reported as not written."""
    out = tmp_path / "scored.csv"
    args = ["score", *map(str, inputs), *options, *model_opts(tiny_model), "-o", str(out), "--jobs", "1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "were not written" not in result.output
    with open(out, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_chat_columns_are_written_when_a_file_without_them_comes_first(tiny_model, tmp_path):
    """A spreadsheet scored before a chat export: the chat's sender and date are not dropped."""
    sheet = tmp_path / "hotline.csv"
    sheet.write_text("id;Текст\n1;Привіт\n", encoding="utf-8")
    tg = _write_json(tmp_path / "result.json", {"name": "Родина", "messages": [
        _tg_message(2, APPEAL, sender="Unknown"),
    ]})  # fmt: skip
    first, second = _score_in_order(tiny_model, tmp_path, [sheet, tg])
    assert first["sender"] == "" and first["chat"] == ""
    assert second["sender"] == "Unknown" and second["chat"] == "Родина"


def test_kept_columns_are_written_when_a_chat_export_comes_first(tiny_model, tmp_path):
    """--keep names a CSV's column; a chat export before it no longer fixes the header without it."""
    tg = _write_json(tmp_path / "result.json", {"name": "Родина", "messages": [
        _tg_message(1, APPEAL, sender="Unknown"),
    ]})  # fmt: skip
    notes = tmp_path / "notes.csv"
    notes.write_text("text,note\nПривіт,n1\n", encoding="utf-8")
    first, second = _score_in_order(tiny_model, tmp_path, [tg, notes], "--keep", "note")
    assert first["sender"] == "Unknown" and first["note"] == ""
    assert second["note"] == "n1" and second["sender"] == ""


def test_score_summary_counts_skipped_chat_lines_and_media_rows(tiny_model, tmp_path):
    tg = _write_json(tmp_path / "result.json", _full_account_export())
    wa = tmp_path / "chat.txt"
    wa.write_text(WHATSAPP["android-gb"][0], encoding="utf-8")
    rows, stderr = _score(tiny_model, tmp_path, str(tg), str(wa))
    assert len(rows) == 7 + 3
    assert [r["error"] for r in rows if r["error"]] == [
        "no text: photo",
        "no text: sticker",
        "no text: Media omitted",
    ]
    assert "10 rows read, 7 scored" in stderr
    assert "4 chat lines skipped (2 Telegram service, 2 WhatsApp system)" in stderr


def test_input_format_option_reads_a_chat_log_with_any_name(tiny_model, tmp_path):
    path = tmp_path / "export.log"
    path.write_text(f"[14.02.24 18:30] Unknown: {APPEAL}\n[14.02.24 18:31] Unknown: купи хліба\n", "utf-8")
    rows, _ = _score(tiny_model, tmp_path, str(path), "--input-format", "chatlog")
    assert [r["row"] for r in rows] == ["1", "2"] and not any(r["error"] for r in rows)


def test_suggest_reads_chat_exports(tiny_model, tmp_path):
    tg = _write_json(tmp_path / "result.json", _full_account_export())
    out = tmp_path / "to_label.csv"
    result = CliRunner().invoke(cli, ["suggest", str(tg), "-n", "3", *model_opts(tiny_model), "-o", str(out)])
    assert result.exit_code == 0, result.output
    with open(out, encoding="utf-8", newline="") as fh:
        texts = [r["text"] for r in csv.DictReader(fh)]
    assert len(texts) == 3
    assert set(texts) <= {"Привіт, як справи?", "Мамо, виходьте на Майдан, дивись https://t.me/x і @petro тут",
                          "підпис до фото", "друга розмова", "покинутий чат"}  # fmt: skip


def test_readers_module_still_reads_plain_formats_unchanged(tmp_path):
    """The hook changes nothing for txt/jsonl/csv: no metadata, rows as before."""
    (tmp_path / "m.jsonl").write_text('{"text": "a"}\n', encoding="utf-8")
    (tmp_path / "m.csv").write_text("text\nb\n", encoding="utf-8")
    for name in ("m.jsonl", "m.csv"):
        records = list(readers.read_records(tmp_path / name))
        assert [(r.row, r.meta) for r in records] == [(1, None)]
