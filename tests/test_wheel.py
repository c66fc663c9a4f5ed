"""The installed wheel, not the repository: score from an empty folder with the shipped model.

The wheel is built from a copy of the sources with a tiny default model (the release
build run on the tiny store, not the full one), installed with ``--no-deps`` into a fresh
venv that sees this environment's dependencies through a ``.pth`` file: installing the
dependencies from the local index as well took 28 s more here, for nothing this test
checks. About 25 s in all, most of it numba compiling the kernels on the first run of a
fresh install.
"""

import csv
import io
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from .conftest import tiny_rows, write_store

ROOT = Path(__file__).resolve().parent.parent


def _run(args, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.mark.slow
def test_the_installed_wheel_scores_from_an_empty_folder_with_the_shipped_model(tmp_path):
    from classifier.release import build_default_model

    src = tmp_path / "src"
    shutil.copytree(
        ROOT / "classifier", src / "classifier", ignore=shutil.ignore_patterns("__pycache__", "_shipped")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    store = write_store(tmp_path / "store" / "tiny.csv", tiny_rows()).parent
    build_default_model([store], heldout=False, out=src / "classifier" / "_shipped", quiet=True)
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"), str(src)])
    (wheel,) = (tmp_path / "dist").glob("coercion_classifier-*.whl")

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)])
    site = Path(
        _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    )
    here = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "zz_test_dependencies.pth").write_text("\n".join(sorted(here)) + "\n")

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "messages.txt").write_text(
        "Мамо, я в полоні, виходьте на Майдан\nкупи хліба\n\n", encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("COERCION_CLASSIFIER_HOME", "PYTHONPATH")}
    where = _run([str(python), "-c", "import classifier; print(classifier.__file__)"], cwd=empty, env=env)
    assert Path(where.stdout.strip()).is_relative_to(env_dir)  # the wheel's copy, not the sources

    result = _run([str(env_dir / "bin" / "coercion-classifier"), "score", "messages.txt"], cwd=empty, env=env)
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["source"], r["row"], r["error"]) for r in rows] == [
        ("messages.txt", "1", ""),
        ("messages.txt", "2", ""),
        ("messages.txt", "3", "empty text"),
    ]
    assert rows[0]["flagged"] == "true" and float(rows[0]["score"]) > float(rows[1]["score"])
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(f"using the shipped model default-0.2.0 (no model in {empty / 'models'};")
    assert lines[-1].startswith("3 rows read, 2 scored, 1 flagged, 1 error in ")
    assert lines[-1].endswith("(model default-0.2.0)")
    assert sorted(p.name for p in empty.iterdir()) == ["messages.txt"]  # nothing trained or written here

    # The analyst's path (the "done when"): an xlsx, a ; CSV and a Telegram export
    # scored from that folder into a spreadsheet with the texts beside the scores; then a
    # workspace made with init, and labels added to it from a spreadsheet.
    from openpyxl import Workbook, load_workbook

    appeal, everyday = "Мамо, я в полоні, виходьте на Майдан", "купи хліба"
    book = Workbook()
    book.active.append(["ID", "Текст"])
    book.active.append([1, appeal])
    book.active.append([2, everyday])
    book.save(empty / "hotline.xlsx")
    (empty / "export.csv").write_bytes(f"id;Текст\r\n3;{appeal}\r\n4;{everyday}\r\n".encode("cp1251"))
    telegram = {"name": "Родина", "type": "private_group", "id": 7, "messages": [
        {"id": 5, "type": "message", "date": "2024-02-14T18:30:00", "from": "Unknown", "text": appeal},
        {"id": 6, "type": "message", "date": "2024-02-14T18:31:00", "from": "Оля", "text": everyday},
    ]}  # fmt: skip
    (empty / "result.json").write_text(
        __import__("json").dumps(telegram, ensure_ascii=False), encoding="utf-8"
    )
    cli = str(env_dir / "bin" / "coercion-classifier")
    _run(
        [cli, "score", "hotline.xlsx", "export.csv", "result.json", "--include-text", "-o", "out.xlsx"],
        cwd=empty,
        env=env,
    )
    sheet = load_workbook(empty / "out.xlsx", read_only=True).worksheets[0]
    header, *rows = list(sheet.iter_rows(values_only=True))
    out = [dict(zip(header, r, strict=False)) for r in rows]
    assert [(r["source"], r["text"], r["flagged"]) for r in out] == [
        (source, text, text == appeal)
        for source in ("hotline.xlsx", "export.csv", "result.json")
        for text in (appeal, everyday)
    ]
    assert all(isinstance(r["score"], float) for r in out)
    assert out[4]["sender"] == "Unknown" and out[4]["chat"] == "Родина"

    _run([cli, "init", "ws"], cwd=empty, env=env)
    labels = Workbook()
    labels.active.append(["Text", "Label", "lang"])
    labels.active.append(["Мамо, я в полоні, тисніть на владу, бо нас тут кинули", 1, "uk"])
    labels.active.append(["Мамо, не хвилюйся, в мене все добре", 0, "uk"])
    labels.save(empty / "ws" / "week49.xlsx")
    added = _run(
        [cli, "labels", "add", "week49.xlsx", "--source", "hotline-week49"], cwd=empty / "ws", env=env
    )
    assert "2 added" in added.stdout
    (stored,) = (empty / "ws" / "datasets" / "labelled").glob("added_*.csv")
    assert "hotline-week49" in stored.read_text(encoding="utf-8")
