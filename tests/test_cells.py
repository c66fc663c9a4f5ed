"""Formula injection: every CSV written for people neutralises cells a spreadsheet would evaluate,
and the tool's own readers get the exact original text back."""

import csv
import io
import json

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from classifier._cells import DANGEROUS, escape_cell, unescape_cell
from classifier.cli import cli

from .conftest import tiny_rows, write_store

TRICKY = [
    "",
    "'",
    "''",
    "'''=",
    "=1+1",
    "=cmd|' -C calc'!A0",
    "+1",
    "-1",
    "-2+3",
    "@SUM(A1:A2)",
    "\t=1",
    "\r=1",
    "'=1+1",
    "''=1+1",
    "'-",
    "'@",
    "'hello",
    "hello",
    " =1",
    "a=1",
    "1e5",
    "-1.5e-3",
    "--",
]


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_cells_round_trip_and_never_start_with_a_formula(text):
    escaped = escape_cell(text)
    assert unescape_cell(escaped) == text
    if escaped and escaped[0] in DANGEROUS:  # only plain numbers stay as they are
        assert escaped == text and float(text) == float(text)


def test_formula_cells_get_a_quote_and_plain_numbers_do_not():
    assert escape_cell("=1+1") == "'=1+1"
    assert escape_cell("@x") == "'@x"
    assert escape_cell("'=x") == "''=x"  # so that the quote of the original survives
    assert escape_cell("'x") == "'x"
    assert escape_cell("-5") == "-5" and escape_cell("+2.5") == "+2.5"
    assert escape_cell("-2+3") == "'-2+3"


@given(st.text(alphabet=st.sampled_from("'=+-@\t\r 0123456789.eaб"), max_size=8) | st.text(max_size=20))
def test_escaping_is_reversible(text):
    escaped = escape_cell(text)
    assert unescape_cell(escaped) == text
    assert not escaped[:1] or escaped[0] not in DANGEROUS or escaped == text


@pytest.fixture
def home(tmp_path, monkeypatch):
    write_store(tmp_path / "datasets" / "labelled" / "tiny.csv", tiny_rows())
    monkeypatch.setenv("COERCION_CLASSIFIER_HOME", str(tmp_path))
    return tmp_path


def _model(model):
    return ["--models-dir", str(model.path.parent), "--model", str(model.version)]


def test_score_csv_neutralises_source_and_id_cells(tiny_model, tmp_path):
    path = tmp_path / "=cmd|' -C calc'!A0.csv"
    path.write_text(
        "id,text\n=1+1,Мамо виходьте на Майдан\n@SUM(A1),купи хліба додому\n-5,привіт як справи\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        cli, ["score", str(path), "--id-column", "id", *_model(tiny_model), "-o", str(tmp_path / "o.csv")]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO((tmp_path / "o.csv").read_text(encoding="utf-8"))))
    assert [r["id"] for r in rows] == ["'=1+1", "'@SUM(A1)", "-5"]
    assert all(r["source"] == str(path) for r in rows)  # an absolute path starts with "/"
    for row in rows:
        for cell in row.values():
            assert not cell or cell[0] not in DANGEROUS or cell == "-5"


def test_score_csv_source_named_like_a_formula(tiny_model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = "=cmd|' -C calc'!A0.txt"
    (tmp_path / name).write_text("Мамо виходьте на Майдан\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["score", name, *_model(tiny_model)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows[0]["source"] == "'" + name
    jsonl = CliRunner().invoke(cli, ["score", name, *_model(tiny_model), "--format", "jsonl"])
    assert json.loads(jsonl.stdout.splitlines()[0])["source"] == name  # machine formats stay exact


HOSTILE_TEXTS = [
    '=HYPERLINK("http://x.example/a") quarterly invoice numbers for the warehouse',
    "+380 44 123 45 67 подзвоніть сантехніку щодо крана на кухні",
    "-- мітинг автолюбителів перенесли на наступний четвер",
    "@everyone the football match starts at seven, bring snacks",
    "\tрецепт борщу: буряк, капуста, картопля і трохи часнику",
    "'=quoted already: library books are due back on Friday morning",
    "''=two quotes then a formula, the printer on floor three is jammed",
    "'plain quote, зустрічаємось біля фонтану о пів на дев'яту",
]


def test_suggest_file_round_trips_through_labels_add(home, tiny_model, tmp_path):
    from classifier.labels import load_store
    from classifier.merge import add_labels

    src = tmp_path / "pool.jsonl"
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in HOSTILE_TEXTS), encoding="utf-8")
    out = tmp_path / "to_label.csv"
    result = CliRunner().invoke(
        cli, ["suggest", str(src), "-n", str(len(HOSTILE_TEXTS)), "-o", str(out), *_model(tiny_model)]
    )
    assert result.exit_code == 0, result.output
    raw = out.read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(raw)))
    assert len(rows) == len(HOSTILE_TEXTS)
    assert all(r["text"][0] not in DANGEROUS for r in rows), [r["text"] for r in rows]
    # the analyst fills in the labels and saves the file
    for r in rows:
        r["label"] = "0"
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    out.write_text(buf.getvalue(), encoding="utf-8")
    report = add_labels([out], home / "datasets" / "labelled", source="t", annotator="a")
    assert report.added == len(HOSTILE_TEXTS)
    stored = set(load_store([*sorted((home / "datasets" / "labelled").glob("*.csv"))])["text"])
    assert set(HOSTILE_TEXTS) <= stored
