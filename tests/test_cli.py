import csv
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from classifier.cli import cli

from .conftest import tiny_rows, write_store

ROOT = Path(__file__).resolve().parent.parent


def _commands(group=cli, prefix=()):
    for name, cmd in group.commands.items():
        yield (*prefix, name)
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, (*prefix, name))


COMMANDS = list(_commands())


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help_and_is_in_readme(command):
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output and len(result.output) > 150
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"coercion-classifier {' '.join(command)}" in readme


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A project home with the tiny store and no model yet."""
    write_store(tmp_path / "datasets" / "labelled" / "tiny.csv", tiny_rows())
    monkeypatch.setenv("COERCION_CLASSIFIER_HOME", str(tmp_path))
    return tmp_path


def test_score_trains_default_model_first_then_reuses_it(home):
    sample = home / "m.txt"
    sample.write_text("Мамо, я в полоні, виходьте на Майдан\nкупи хліба\n\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["score", str(sample)])
    assert result.exit_code == 0, result.output
    assert "No model in" in result.stderr and "training the default model" in result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["row"] for r in rows] == ["1", "2", "3"]
    assert rows[2]["error"] == "empty text" and rows[0]["error"] == ""
    assert re.search(r"3 rows read, 2 scored, \d flagged, 1 errors", result.stderr)
    assert (home / "models" / "CURRENT").exists()

    again = CliRunner().invoke(cli, ["score", str(sample), "-o", str(home / "out.csv")])
    assert again.exit_code == 0 and "training" not in again.stderr
    assert again.stdout == ""
    assert list(csv.DictReader(io.StringIO((home / "out.csv").read_text(encoding="utf-8")))) == rows


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["score", "missing.txt"], "Error: missing.txt: no such file"),
        (
            ["score", "notes.docx"],
            "Error: notes.docx: unknown file type '.docx'; use .txt (one message per line), .csv, .tsv or .jsonl",
        ),
        (
            ["score", "m.csv"],
            "Error: m.csv: no column 'text'; the columns are: id, body; pass --text-column NAME",
        ),
    ],
)
def test_score_unusable_input_is_one_line_error(home, monkeypatch, args, message):
    monkeypatch.chdir(home)
    (home / "notes.docx").write_text("x")
    (home / "m.csv").write_text("id,body\n1,hello\n")
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [message]
    assert "Traceback" not in result.output


def test_score_without_data_or_model_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("COERCION_CLASSIFIER_HOME", str(tmp_path))
    (tmp_path / "m.txt").write_text("x\n")
    result = CliRunner().invoke(cli, ["score", str(tmp_path / "m.txt")])
    assert result.exit_code == 1
    assert "no such file or folder; run from the repository root or pass --data" in result.stderr
    assert "Traceback" not in result.output


def test_train_prints_metrics_and_registers(home):
    result = CliRunner().invoke(cli, ["train", "--quiet", "--seed", "2", "--target-precision", "0.9"])
    assert result.exit_code == 0, result.output
    assert re.search(r"model \d{8}T\d{6}Z(-\d+)?  threshold 0\.\d{4}", result.stdout)
    assert "lang=uk" in result.stdout and "scam" in result.stdout
    version = (home / "models" / "CURRENT").read_text().strip()
    assert (home / "models" / version / "model.joblib").exists()


def test_labels_check_ok_and_counts(home):
    result = CliRunner().invoke(cli, ["labels", "check"])
    assert result.exit_code == 0
    assert "30 rows in 1 file(s): OK" in result.stdout
    assert re.search(r"coerced_appeal\s+15", result.stdout)


def test_labels_check_lists_every_problem_and_fails(home):
    rows = tiny_rows()
    rows[0]["label"] = "maybe"
    rows[5]["text"] = rows[6]["text"]
    path = write_store(home / "datasets" / "labelled" / "tiny.csv", rows)
    result = CliRunner().invoke(cli, ["labels", "check"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert f"{path}:2 [label]: label must be 0 or 1, got 'maybe'" in lines
    assert any(line.startswith(f"{path}:8 [text]: duplicate of {path}:7") for line in lines)
    assert lines[-1].startswith("Error: 2 problem(s)")


def test_python_dash_m_works():
    out = subprocess.run(
        [sys.executable, "-m", "classifier", "--help"], capture_output=True, text=True, check=True
    )
    assert "coercion-classifier" in out.stdout and "score" in out.stdout
