"""Campaigns: near-duplicate flagged messages share an id, the same whatever jobs, chunks or engine."""

import csv
import doctest

import pytest
from click.testing import CliRunner

from classifier import campaigns as campaigns_module
from classifier.campaigns import CAMPAIGN_COLUMNS, CampaignGrouper
from classifier.cli import cli

from .conftest import model_opts

SCRIPT = (
    "Мамо, я в полоні. Виходьте на Майдан, вимагайте обміну всіх на всіх, "
    "влада нас кинула і забула про нас. Скажи всім родинам, хай перекривають дороги"
)
COPIES = [
    SCRIPT.replace("Мамо", "Тато"),  # another name
    SCRIPT.replace("Мамо,", "Привіт, кохана,"),  # another greeting
    SCRIPT.replace("Виходьте на Майдан", "Виходьте всі разом негайно на Майдан"),  # words inserted
    SCRIPT.replace("вимагайте", "вимагаите").replace("перекривають", "перекривать"),  # typos
    SCRIPT.translate(str.maketrans("оаеір", "oaeip")),  # Latin look-alike spelling
]
# SCRIPT transliterated by sound: the national system, a looser one typed by ear, apostrophes
TRANSLITERATED = [
    "Mamo, ya v poloni. Vykhodte na Maidan, vymahaite obminu vsikh na vsikh, vlada nas kynula i zabula "
    "pro nas. Skazhy vsim rodynam, khai perekryvaiut dorohy",
    "mamo ja v poloni vyhodte na majdan vymagajte obminu vsih na vsih vlada nas kynula i zabula pro nas "
    "skazhi vsim rodinam haj perekryvajut dorogy",
    "Mamo, ya v poloni. Vykhod'te na Maidan, vymahaite obminu vsikh na vsikh!! Vlada nas kynula i zabula "
    "pro nas. Skazhy vsim rodynam, khay perekryvayut dorohy",
]
# other scripts on the same theme: must stay apart from SCRIPT and from one another
DISTINCT = [
    "Рідні, ми в полоні вже рік. Йдіть під Офіс президента, вимагайте обміну, нас тут кинули",
    "Дорогі українці, ми в полоні, Київ не хоче нас забирати. Перекривайте дороги і вимагайте обміну!",
    "Кохана, збирай жінок під Банкову, хай вимагають обміну всіх на всіх, влада нас забула",
]


def _group(texts):
    g = CampaignGrouper()
    n = len(texts)
    g.add_rows(range(n), texts, scores=[0.9] * n, langs=["uk"] * n, sources=["a"] * n, rows=range(1, n + 1))
    return g.cluster()


def test_doctests_run():
    assert doctest.testmod(campaigns_module).failed == 0


def test_edited_copies_group_and_distinct_scripts_stay_apart():
    result = _group([SCRIPT, *COPIES, *DISTINCT])
    ids = result.column(range(len(COPIES) + 1 + len(DISTINCT)))
    assert ids[: len(COPIES) + 1] == ["c0001"] * (len(COPIES) + 1)
    assert ids[len(COPIES) + 1 :] == ["c0002", "c0003", "c0004"]
    assert result.table["size"].tolist() == [6, 1, 1, 1]


def test_each_edit_alone_groups_with_the_script():
    for copy in COPIES:
        assert _group([SCRIPT, copy]).column([0, 1]) == ["c0001", "c0001"], copy


def test_a_copy_transliterated_by_sound_groups_with_its_script():
    for copy in TRANSLITERATED:
        assert _group([SCRIPT, copy]).column([0, 1]) == ["c0001", "c0001"], copy
    result = _group([*TRANSLITERATED, *DISTINCT])  # the shared spelling does not pull other scripts in
    assert result.column(range(6)) == ["c0001"] * 3 + ["c0002", "c0003", "c0004"]


def test_ids_follow_first_appearance_whatever_order_rows_are_added():
    texts = [DISTINCT[0], SCRIPT, DISTINCT[1], COPIES[0]]
    g = CampaignGrouper()
    for key in (3, 1, 0, 2):  # as workers might hand them in
        g.add_rows([key], [texts[key]], scores=[0.5 + key / 10], langs=["uk"], sources=["a"], rows=[key + 1])
    result = g.cluster()
    assert result.column(range(4)) == ["c0001", "c0002", "c0003", "c0002"]
    assert result.table.loc[0, "text"] == COPIES[0]  # the highest-scoring member's text


def _write_input(path):
    rows = [(SCRIPT, "2024-02-14T18:30:00"), ("Привіт, купи хліба і молока", "2024-02-14T19:00:00")]
    rows += [(t, f"2024-02-{15 + i}T09:00:00") for i, t in enumerate([*COPIES, *DISTINCT])]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "when"])
        w.writerows(rows)
    return path


def _read(path):
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def scored(tiny_model, tmp_path_factory):
    """One CLI run with --campaigns, --date-column and --report; threshold 0.3 so that appeals are flagged."""
    tmp = tmp_path_factory.mktemp("campaigns")
    src = _write_input(tmp / "in.csv")
    args = ["score", str(src), "-o", str(tmp / "out.csv"), "--campaigns", str(tmp / "campaigns.csv")]
    args += ["--date-column", "when", "--report", str(tmp / "report"), "--threshold", "0.3", "--jobs", "1"]
    result = CliRunner().invoke(cli, [*args, *model_opts(tiny_model)])
    assert result.exit_code == 0, result.output
    return tmp, result


def test_score_writes_the_campaign_column_and_the_campaigns_file(scored):
    tmp, result = scored
    rows = _read(tmp / "out.csv")
    assert list(rows[0])[:10] == [
        "source", "row", "lang", "score", "flagged", "reasons", "truncated", "error", "campaign", "when",
    ]  # fmt: skip
    by_row = {int(r["row"]): r for r in rows}
    assert by_row[2]["campaign"] == ""  # neither flagged nor a near miss
    assert {by_row[i]["campaign"] for i in [1, 3, 4, 5, 6, 7]} == {"c0001"}
    assert len({by_row[i]["campaign"] for i in [8, 9, 10]} - {"c0001", ""}) == 3
    table = _read(tmp / "campaigns.csv")
    assert list(table[0]) == list(CAMPAIGN_COLUMNS)
    first = table[0]
    assert (first["campaign"], first["size"]) == ("c0001", "6")
    assert (first["first_seen"], first["last_seen"]) == ("2024-02-14 18:30:00", "2024-02-19 09:00:00")
    assert first["languages"].split(";")[0] == "uk" and first["sources"].endswith("in.csv")  # most first
    assert float(first["max_score"]) == max(float(by_row[i]["score"]) for i in [1, 3, 4, 5, 6, 7])
    assert [int(r["size"]) for r in table] == sorted((int(r["size"]) for r in table), reverse=True)
    assert "in 4 campaigns" in result.output


def test_report_shows_campaigns_and_one_top_row_per_campaign(scored):
    tmp, _ = scored
    page = (tmp / "report" / "report.html").read_text(encoding="utf-8")
    assert "<h2>Campaigns (" in page and "flagged campaigns</h2>" in page
    assert "Top " in page and "flagged messages</h2>" not in page  # no list of copies
    assert "batch_campaigns" in page  # the timeline: the input has dates


def test_ids_are_the_same_whatever_jobs_and_chunk_size(tiny_model, tmp_path):
    from classifier.scoring import score_files

    src = _write_input(tmp_path / "in.csv")
    got = []
    for jobs, chunk in ((1, 4000), (2, 2), (1, 3)):
        out = tmp_path / f"out-{jobs}-{chunk}.csv"
        score_files([str(src)], str(out), tiny_model, threshold=0.3, jobs=jobs, chunk_size=chunk,
                    campaigns=CampaignGrouper())  # fmt: skip
        got.append([r["campaign"] for r in _read(out)])
    assert got[0] == got[1] == got[2] and "c0001" in got[0]


def test_report_without_dates_says_so(tiny_model, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("\n".join([SCRIPT, *COPIES]) + "\n", encoding="utf-8")
    args = [
        "score",
        str(src),
        "-o",
        str(tmp_path / "o.csv"),
        "--report",
        str(tmp_path / "r"),
        "--threshold",
        "0.3",
    ]
    result = CliRunner().invoke(cli, [*args, "--jobs", "1", *model_opts(tiny_model)])
    assert result.exit_code == 0, result.output
    assert "no dates in the input" in (tmp_path / "r" / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--campaigns", "{tmp}/c.parquet"], "unknown extension '.parquet'"),
        (["--campaigns", "{tmp}/in.csv"], "is the input"),
        (["--campaigns", "{tmp}/o.csv"], "is the -o file"),
        (["--campaigns", "{tmp}/c.csv", "--no-campaigns"], "--campaigns needs the campaigns"),
    ],
)
def test_bad_campaign_options_are_one_line_errors_before_any_work(tiny_model, tmp_path, extra, message):
    src = tmp_path / "in.csv"
    src.write_text(f"text\n{SCRIPT}\n", encoding="utf-8")
    extra = [e.format(tmp=tmp_path) for e in extra]
    result = CliRunner().invoke(
        cli, ["score", str(src), "-o", str(tmp_path / "o.csv"), *extra, *model_opts(tiny_model)]
    )
    assert result.exit_code != 0 and message in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "o.csv").exists() and src.read_text(encoding="utf-8") == f"text\n{SCRIPT}\n"


def test_no_campaigns_keeps_the_earlier_header(tiny_model, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text(SCRIPT + "\n", encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["score", str(src), "-o", str(tmp_path / "o.csv"), "--no-campaigns", *model_opts(tiny_model)]
    )
    assert result.exit_code == 0, result.output
    assert "campaign" not in _read(tmp_path / "o.csv")[0]


def test_redact_masks_the_campaigns_file_and_the_report(tiny_model, tmp_path):
    phone = "+380 67 123 45 67"
    src = tmp_path / "in.txt"
    src.write_text("\n".join(f"{t} Дзвони {phone}" for t in [SCRIPT, *COPIES]) + "\n", encoding="utf-8")
    args = ["score", str(src), "-o", str(tmp_path / "o.csv"), "--campaigns", str(tmp_path / "c.csv")]
    args += ["--report", str(tmp_path / "r"), "--threshold", "0.3", "--redact", "--jobs", "1"]
    result = CliRunner().invoke(cli, [*args, *model_opts(tiny_model)])
    assert result.exit_code == 0, result.output
    table = _read(tmp_path / "c.csv")
    assert table and all("[phone]" in r["text"] and "123 45 67" not in r["text"] for r in table)
    page = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert "[phone]" in page and "123 45 67" not in page


def test_timeline_days_without_messages_count_zero():
    from datetime import date

    from classifier import batch_report
    from classifier.batch_report import daily_counts

    x, y = daily_counts({date(2024, 2, 27): 2, date(2024, 3, 2): 5, date(2024, 2, 28): 1})
    assert x == [date(2024, 2, 27), date(2024, 2, 28), date(2024, 2, 29), date(2024, 3, 1), date(2024, 3, 2)]
    assert y == [2, 1, 0, 0, 5]  # a quiet day is 0, so the plotted line does not bridge the gap
    assert doctest.testmod(batch_report).failed == 0
