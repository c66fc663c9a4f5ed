"""The label store under `labels add`: concurrent runs, conflicts, validation, workspace, full disk."""

import csv
import errno
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from classifier import config, merge
from classifier.cli import cli
from classifier.errors import DataError
from classifier.labels import load_store, read_labelled, store_files, validate

from .conftest import NEGATIVES, POSITIVES, tiny_rows, write_store

ROOT = Path(__file__).resolve().parent.parent


def _csv(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=sorted({k for r in rows for k in r}), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return path


def _jsonl(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _words(prefix, n):
    """n distinct texts that stay distinct after normalisation (digits would all become 0)."""
    letters = "абвгдежзик"
    return [f"{prefix} " + "-".join(letters[int(d)] for d in f"{i:05d}") for i in range(n)]


def _check_is_green(store):
    df, problems = read_labelled(store_files([store]))
    problems += validate(df)
    assert not problems, [str(p) for p in problems[:5]]
    return df


def _store_snapshot(store):
    return {p.name: p.read_bytes() for p in store.iterdir() if p.name != ".lock"}


# --- item 6: two runs at once -------------------------------------------------------------

# Each run waits for the signal file, then adds its file. Writing the new file's rows is slowed
# by a second, as a large file (the 60,000 rows) or a slow disk would: the window between
# choosing the file name and writing it is then wide enough for the two runs to meet in it.
_RUN = """
import csv, os, sys, time
from datetime import UTC, datetime
from classifier.merge import add_labels
slow = csv.DictWriter.writerows
csv.DictWriter.writerows = lambda self, rows: (time.sleep(1.0), slow(self, rows))[1]
go, new, store, source = sys.argv[1:5]
while not os.path.exists(go):
    time.sleep(0.005)
report = add_labels([new], store, source=source, now=datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC))
print(report.added, report.written)
"""


def _race(tmp_path, store, jobs):
    """Start `add_labels` in one process per (file, source), released at the same instant."""
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RUN, str(go), str(new), str(store), source],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for new, source in jobs
    ]
    time.sleep(2.0)  # both have imported the package and wait for the signal
    go.touch()
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    return [out for out, _ in outs]


def test_two_adds_at_once_with_the_same_source_keep_both_files_rows(tiny_store, tmp_path):
    a = _csv(tmp_path / "a.csv", [{"text": t, "label": "0"} for t in _words("перший", 3000)])
    b = _csv(tmp_path / "b.csv", [{"text": t, "label": "0"} for t in _words("другий", 3000)])
    outs = _race(tmp_path, tiny_store, [(a, "same"), (b, "same")])
    assert [o.split()[0] for o in outs] == ["3000", "3000"]
    df = _check_is_green(tiny_store)
    assert len(df) == 30 + 6000  # no file replaced the other
    assert len(list(tiny_store.glob("added_*.csv"))) == 2


def test_two_adds_at_once_of_the_same_text_store_it_once(tiny_store, tmp_path):
    texts = _words("спільний", 2000)
    a = _csv(tmp_path / "a.csv", [{"text": t, "label": "0"} for t in texts])
    b = _csv(tmp_path / "b.csv", [{"text": t, "label": "0"} for t in texts])
    outs = _race(tmp_path, tiny_store, [(a, "source-a"), (b, "source-b")])
    assert sorted(o.split()[0] for o in outs) == ["0", "2000"]  # the second saw the first's rows
    df = _check_is_green(tiny_store)
    assert len(df) == 30 + 2000


def test_a_new_file_never_replaces_an_existing_one(tiny_store, tmp_path, monkeypatch):
    """Even when the name is taken between the check and the write (another tool, a stale copy)."""
    from datetime import UTC, datetime

    now = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
    taken = tiny_store / "added_20261201T120000Z_src.csv"
    real_exists = Path.exists

    def exists_but_blind(self):  # the old code looked before it leapt
        return False if self.name.startswith("added_") else real_exists(self)

    new = _csv(tmp_path / "n.csv", [{"text": "зовсім нове повідомлення", "label": "0"}])
    write_store(taken, tiny_rows()[:0])  # someone else's file, header only
    before = taken.read_bytes()
    monkeypatch.setattr(Path, "exists", exists_but_blind)
    report = merge.add_labels([new], tiny_store, source="src", now=now)
    monkeypatch.undo()
    assert taken.read_bytes() == before and report.written != taken
    assert report.written.name.startswith("added_20261201T120000Z")


def test_a_symlinked_store_lock_is_refused_and_its_target_untouched(tiny_store, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    (tiny_store / ".lock").symlink_to(victim)
    new = _csv(tmp_path / "n.csv", [{"text": "зовсім нове повідомлення", "label": "0"}])
    with pytest.raises(DataError, match=r"\.lock.*symlink"):
        merge.add_labels([new], tiny_store)
    assert victim.read_text(encoding="utf-8") == "precious\n"
    assert len(list(tiny_store.glob("*.csv"))) == 1


def test_a_hard_linked_store_lock_is_refused_and_the_label_file_untouched(tiny_store, tmp_path):
    label_file = next(tiny_store.glob("*.csv"))
    before = label_file.read_bytes()
    os.link(label_file, tiny_store / ".lock")
    new = _csv(tmp_path / "n.csv", [{"text": "зовсім нове повідомлення", "label": "0"}])
    with pytest.raises(DataError, match=r"\.lock is a hard link"):
        merge.add_labels([new], tiny_store)
    assert label_file.read_bytes() == before


def test_a_run_that_cannot_get_the_lock_in_time_says_who_holds_it(tiny_store):
    waits = []
    with merge.store_lock(tiny_store):
        with pytest.raises(DataError, match=r"locked by pid \d+ \(another labels add is running\)"):
            with merge.store_lock(tiny_store, wait=0.3, on_wait=waits.append):
                pass  # pragma: no cover - never entered
    assert len(waits) == 1 and "waiting for pid" in waits[0]
    with merge.store_lock(tiny_store, wait=0.0):  # released
        pass


# --- item 9: --resolve newest ---------------------------------------------------------------


def test_newest_wins_inside_the_new_file_and_is_what_is_printed(tiny_store, tmp_path):
    text = "Зовсім новий текст про збори у неділю"
    new = _csv(
        tmp_path / "n.csv",
        [{"text": text, "label": "0", "category": "everyday"}, {"text": text, "label": "1"}],
    )
    result = CliRunner().invoke(
        cli, ["labels", "add", str(new), "--store", str(tiny_store), "--resolve", "newest"]
    )
    assert result.exit_code == 0, result.output
    assert load_store([tiny_store]).set_index("text").loc[text, "label"] == 1  # the later row
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("conflict")]
    assert "inside the new file" in line and "n.csv:3" in line
    assert re.search(r"label 1 is stored", line), line  # printed = stored


def test_keep_keeps_the_earlier_row_inside_the_new_file(tiny_store, tmp_path):
    text = "Зовсім новий текст про збори у неділю"
    new = _csv(tmp_path / "n.csv", [{"text": text, "label": "0"}, {"text": text, "label": "1"}])
    report = merge.add_labels([new], tiny_store, resolve="keep")
    assert report.added == 1 and load_store([tiny_store]).set_index("text").loc[text, "label"] == 0
    assert "label 0 is stored" in report.conflicts[0].line()


def test_newest_file_row_beats_the_store_and_an_earlier_row(tiny_store, tmp_path):
    text = NEGATIVES[0][2]  # stored as 0 at tiny.csv:17
    new = _csv(tmp_path / "n.csv", [{"text": text, "label": "0"}, {"text": text, "label": "1"}])
    report = merge.add_labels([new], tiny_store, resolve="newest")
    assert report.added == 1
    assert load_store([tiny_store]).set_index("text").loc[text, "label"] == 1
    lines = [c.line() for c in report.conflicts]
    assert len(lines) == 2 and all("label 1 is stored" in line for line in lines), lines
    _check_is_green(tiny_store)


def test_an_in_file_conflict_is_not_called_a_conflict_with_stored_labels(tiny_store, tmp_path):
    text = "Зовсім новий текст про збори у неділю"
    new = _csv(tmp_path / "n.csv", [{"text": text, "label": "0"}, {"text": text, "label": "1"}])
    with pytest.raises(DataError) as info:
        merge.add_labels([new], tiny_store)
    message = str(info.value)
    assert "1 conflict(s) inside the new file(s)" in message and "stored labels" not in message
    assert f"{new}:3 says 1, {new}:2 says 0" in message


# --- item 10: what add stores, check accepts ------------------------------------------------


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"text": "\u200b\u200b", "label": "0"}, "empty after normalisation"),
        ({"text": "Привіт", "label": "0", "lang": "de"}, "lang must be one of"),
        ({"text": "Привіт", "label": "0", "style": "stt|bold"}, "unknown style tag"),
        ({"text": "Привіт", "label": "1", "captive_voice": "0"}, "captive_voice=0 contradicts"),
        ({"text": "Привіт", "label": "0", "urges_pressure": "yes"}, "must be 0, 1 or empty"),
        ({"text": "Привіт", "label": "0", "contrast": "tone"}, "contrast must be one of"),
        ({"text": "Привіт", "label": "1", "category": "scam"}, "label 1 needs category coerced_appeal"),
        ({"text": "Привіт", "label": "0", "category": "spam"}, "unknown category"),
    ],
)
def test_add_rejects_what_check_would_reject_with_the_same_message(tiny_store, tmp_path, row, message):
    new = _csv(tmp_path / "n.csv", [{"text": "Цілком нормальний рядок", "label": "0"}, row])
    with pytest.raises(DataError, match=r"1 invalid row\(s\)") as info:
        merge.add_labels([new], tiny_store)
    assert re.search(r"n\.csv:3 \[\w+\]: [^;]*" + re.escape(message), str(info.value)), str(info.value)
    assert len(list(tiny_store.glob("*.csv"))) == 1  # nothing written, not even the good row


@pytest.mark.parametrize(
    ("value", "kind"),
    [("123", "number"), ("4.5", "number"), ('{"a": 1}', "object"), ('["x"]', "array"), ("true", "boolean")],
)
def test_a_json_text_that_is_not_a_string_is_refused(tiny_store, tmp_path, value, kind):
    new = _jsonl(
        tmp_path / "n.jsonl",
        ['{"text": "Цілком нормальний рядок", "label": 0}', f'{{"text": {value}, "label": 0}}'],
    )
    with pytest.raises(DataError, match=rf"n\.jsonl:2 \[text\]: text is a JSON {kind}, not a string"):
        merge.add_labels([new], tiny_store)
    assert len(list(tiny_store.glob("*.csv"))) == 1


def test_json_labels_as_numbers_and_booleans_are_fine(tiny_store, tmp_path):
    new = _jsonl(
        tmp_path / "n.jsonl",
        [
            '{"text": "Цілком нормальний рядок", "label": 0}',
            '{"text": "Ще один рядок, інший", "label": false}',
        ],
    )
    assert merge.add_labels([new], tiny_store).added == 2
    _check_is_green(tiny_store)


def test_a_json_null_text_says_null(tiny_store, tmp_path):
    new = _jsonl(tmp_path / "n.jsonl", ['{"text": null, "label": 0}', '{"label": 0}'])
    with pytest.raises(DataError) as info:
        merge.add_labels([new], tiny_store)
    message = str(info.value)
    assert "n.jsonl:1 [text]: text is null" in message and "n.jsonl:2 [text]: no field 'text'" in message


def test_a_lone_surrogate_escape_is_a_one_line_error(tiny_store, tmp_path):
    new = _jsonl(tmp_path / "n.jsonl", ['{"text": "мамо \\ud800 тут", "label": 1}'])
    result = CliRunner().invoke(cli, ["labels", "add", str(new), "--store", str(tiny_store)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # no uncaught exception
    assert "Traceback" not in result.output and "surrogate" in result.stderr
    assert "n.jsonl:1 [text]" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("Error: 1 invalid row(s)")
    assert len(list(tiny_store.glob("*.csv"))) == 1


def test_cli_lists_every_bad_row_on_its_own_line(tiny_store, tmp_path):
    new = _csv(
        tmp_path / "n.csv",
        [
            {"text": "\u200b", "label": "0"},
            {"text": "Привіт", "label": "maybe"},
            {"text": "ok ok", "label": "1"},
        ],
    )
    result = CliRunner().invoke(cli, ["labels", "add", str(new), "--store", str(tiny_store)])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(f"{new}:2 [text]: ") and lines[1].startswith(f"{new}:3 [label]: ")
    assert lines[-1].startswith("Error: 2 invalid row(s), nothing was added")


def test_whatever_add_stores_passes_check(tiny_store, tmp_path):
    rows = [
        {"text": "  Мамо, ВИХОДЬТЕ під Раду, нас кинули  ", "label": "yes"},
        {"text": 'рядок\nз переносом, "лапками" і комою', "label": "0", "style": "chat|"},
        {"text": "Купи хліба", "label": "n", "category": "everyday", "captive_voice": "0"},
        {"text": "Mom they feed us", "label": "0", "category": "proof_of_life", "lang": "en"},
        {"text": POSITIVES[3][1].upper(), "label": "1"},  # a near duplicate: skipped
    ]
    report = merge.add_labels([_csv(tmp_path / "n.csv", rows)], tiny_store, source="s", annotator="a")
    assert (report.added, report.near_duplicates) == (4, 1)
    _check_is_green(tiny_store)


def test_awkward_characters_come_back_from_the_store_exactly(tiny_store, tmp_path):
    texts = [
        "рядок\rз самим CR",  # unquoted, a lone CR ends the record when read back
        'рядок\r\nз CRLF і "лапками"',
        "нуль\x00посередині",
        "сепаратор\u2028рядків і\x85NEL",  # raw in JSON strings: not line ends
        "таб\tі кома, крапка",
    ]
    lines = [json.dumps({"text": t, "label": 0}, ensure_ascii=False) for t in texts]
    report = merge.add_labels([_jsonl(tmp_path / "n.jsonl", lines)], tiny_store)
    assert report.added == len(texts)
    df = _check_is_green(tiny_store)
    assert df[df["file"] == str(report.written)]["text"].tolist() == texts


# --- item 11: outside a workspace ------------------------------------------------------------


def test_add_outside_a_workspace_refuses_and_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv(config.HOME_ENV, raising=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    new = _csv(tmp_path / "n.csv", [{"text": "зовсім нове повідомлення", "label": "0"}])
    result = CliRunner().invoke(cli, ["labels", "add", str(new)])
    assert result.exit_code != 0 and "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()
    assert "COERCION_CLASSIFIER_HOME" in line and "--store" in line
    assert list(elsewhere.iterdir()) == []  # no datasets/labelled/ made here


def test_an_explicit_store_that_does_not_exist_is_refused(tmp_path):
    new = _csv(tmp_path / "n.csv", [{"text": "зовсім нове повідомлення", "label": "0"}])
    with pytest.raises(DataError, match="no such folder"):
        merge.add_labels([new], tmp_path / "labeled")  # a typo
    assert not (tmp_path / "labeled").exists()


def test_the_workspace_is_found_through_the_environment(tmp_path, monkeypatch):
    write_store(tmp_path / "ws" / "datasets" / "labelled" / "tiny.csv", tiny_rows())
    monkeypatch.setenv(config.HOME_ENV, str(tmp_path / "ws"))
    monkeypatch.chdir(tmp_path)
    new = _csv(tmp_path / "n.csv", [{"text": "зовсім нове повідомлення", "label": "0"}])
    result = CliRunner().invoke(cli, ["labels", "add", str(new)])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "ws" / "datasets" / "labelled").glob("*.csv"))) == 2
    assert not (tmp_path / "datasets").exists()


def test_the_repository_root_is_a_workspace(monkeypatch):
    monkeypatch.delenv(config.HOME_ENV, raising=False)
    monkeypatch.chdir(ROOT)
    assert config.label_store().resolve() == (ROOT / "datasets" / "labelled").resolve()


# --- item 18: a full disk --------------------------------------------------------------------


@pytest.mark.parametrize("where", ["write", "fsync"])
def test_a_full_disk_is_a_one_line_error_and_leaves_nothing(tiny_store, tmp_path, monkeypatch, where):
    """ENOSPC half-way through the write, or when the data is flushed (where ext4, NFS report it)."""
    before = _store_snapshot(tiny_store)

    def half_then_full(fd, data):
        os.write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if where == "write":
        monkeypatch.setattr(merge, "_write_all", half_then_full)
    else:
        monkeypatch.setattr(os, "fsync", full)
    new = _csv(tmp_path / "n.csv", [{"text": t, "label": "0"} for t in _words("рядок", 50)])
    result = CliRunner().invoke(cli, ["labels", "add", str(new), "--store", str(tiny_store)])
    monkeypatch.undo()
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Error: ") and "No space left on device" in line and "nothing was added" in line
    assert _store_snapshot(tiny_store) == before  # no half file, no temporary file


# --- cosmetic -------------------------------------------------------------------------------


def test_add_report_counts_are_plural_only_when_they_should_be():
    report = merge.AddReport(read=1, added=1, exact_duplicates=1, near_duplicates=2)
    assert report.lines()[0] == (
        "1 row read: 1 added, 1 exact duplicate skipped, 2 near duplicates skipped, 0 conflicts"
    )


def test_grammar_of_counts_and_types(tmp_path):
    from classifier.readers import read_records
    from classifier.scoring import ScoreSummary

    assert ", 1 error in" in ScoreSummary(rows=1, errors=1).line()
    assert ScoreSummary(rows=1, errors=1).line().startswith("1 row read,")
    assert "; 1 error, more than --max-errors 0" in ScoreSummary(rows=2, errors=1, max_errors=0).line()
    assert ", 2 errors in" in ScoreSummary(rows=2, errors=2).line()
    path = _jsonl(tmp_path / "s.jsonl", ['{"text": "ok"}', '{"text": 5}', "7", '{"text": null}'])
    errors = [r.error for r in read_records(str(path))]
    assert errors[1:] == [
        "field 'text' is a JSON number, not a string",
        "JSON line is a JSON number, not an object",
        "field 'text' is null",
    ]
