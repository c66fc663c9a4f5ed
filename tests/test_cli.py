import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from classifier.cli import cli

from .conftest import model_opts, tiny_rows, write_store

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
            "Error: notes.docx: unknown file type '.docx'; use .txt (one message per line), .csv, .tsv, .jsonl, "
            ".ndjson or .parquet (optionally .gz), or pass --input-format",
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


# --- score: the batch-scoring options ------------------------------------------------


def _csv(text):
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def messages(tmp_path):
    from .conftest import NEGATIVES, POSITIVES

    lines = [t for _, t in POSITIVES] + [t for *_, t in NEGATIVES]
    path = tmp_path / "m.txt"
    path.write_text("\n".join(lines * 40) + "\n", encoding="utf-8")
    return path, lines * 40


def test_score_cli_api_and_jobs_agree(tiny_model, messages, tmp_path):
    from classifier.scoring import score_texts

    path, lines = messages
    model = model_opts(tiny_model)
    one = CliRunner().invoke(cli, ["score", str(path), *model, "--jobs", "1"])
    two = CliRunner().invoke(cli, ["score", str(path), *model, "--jobs", "2"])
    assert one.exit_code == two.exit_code == 0
    assert one.stdout == two.stdout
    rows = _csv(one.stdout)
    assert len(rows) == len(lines) and [int(r["row"]) for r in rows] == list(range(1, len(lines) + 1))
    api = score_texts(lines, tiny_model)
    assert [r["score"] for r in rows] == [f"{s:.6f}" for s in api["score"]]
    assert [r["reasons"] for r in rows] == list(api["reasons"])
    assert re.search(
        rf"{len(lines):,} rows read, {len(lines):,} scored, [\d,]+ flagged, 0 errors", one.stderr
    )


def test_score_stdin_jsonl_output_only_flagged_threshold(tiny_model, messages):
    path, lines = messages
    result = CliRunner().invoke(
        cli,
        [
            "score",
            "-",
            *model_opts(tiny_model),
            "--format",
            "jsonl",
            "--only-flagged",
            "--threshold",
            "0.5",
        ],
        input=path.read_text(encoding="utf-8"),
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows and all(r["flagged"] and r["score"] >= 0.5 and r["source"] == "-" for r in rows)
    assert len(rows) < len(lines)
    assert f"{len(rows):,} rows written" in result.stderr


def test_score_by_file_and_parquet_output(tiny_model, tmp_path):
    folder = tmp_path / "calls"
    folder.mkdir()
    (folder / "001.txt").write_text(
        "Мамо, я в полоні.\nВиходьте на Майдан, вимагайте обміну!\n", encoding="utf-8"
    )
    (folder / "002.txt").write_text("Купи хліба", encoding="utf-8")
    out = tmp_path / "out.parquet"
    result = CliRunner().invoke(
        cli, ["score", str(folder), "--by-file", *model_opts(tiny_model), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    import pandas as pd

    df = pd.read_parquet(out)
    assert list(df["row"]) == [1, 2] and df["source"].iloc[0].endswith("001.txt")
    assert df["score"].iloc[0] > df["score"].iloc[1]


def test_parquet_to_stdout_is_refused(tiny_model, messages):
    path, _ = messages
    result = CliRunner().invoke(cli, ["score", str(path), *model_opts(tiny_model), "--format", "parquet"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: parquet output needs a file: pass -o FILE.parquet"


def test_killed_run_leaves_no_output_file(tiny_model, tmp_path):
    import signal
    import time

    src = tmp_path / "big.txt"
    src.write_text(
        "Мамо, виходьте на Майдан, нас тут покинули, вимагайте обміну\n" * 400_000, encoding="utf-8"
    )
    out = tmp_path / "scored.csv"
    out.write_text("previous complete output\n", encoding="utf-8")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "classifier",
            "score",
            str(src),
            "-o",
            str(out),
            *model_opts(tiny_model),
            "--jobs",
            "2",
            "--no-progress",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".scored.csv.*.part")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # mid-way: the temporary file is being written
    assert proc.poll() is None, proc.stderr.read().decode()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert out.read_text(encoding="utf-8") == "previous complete output\n"
