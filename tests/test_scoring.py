import csv
import io

import numpy as np

from classifier.scoring import score_file, score_texts, score_to_csv

from .conftest import NEGATIVES, POSITIVES


def test_score_texts_matches_model_and_threshold(tiny_model):
    texts = [POSITIVES[0][1], NEGATIVES[3][2], "Hello there, how are you?"]
    df = score_texts(texts, tiny_model)
    assert list(df.columns) == ["text", "lang", "score", "flagged"]
    np.testing.assert_allclose(df["score"], tiny_model.predict_proba(texts))
    assert (df["flagged"] == (df["score"] >= tiny_model.threshold)).all()
    assert list(df["lang"]) == ["uk", "uk", "en"]


def test_score_file_every_row_in_order(tiny_model, tmp_path):
    p = tmp_path / "m.txt"
    lines = [t for _, t in POSITIVES] + ["", "   "] + [t for *_, t in NEGATIVES]
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    chunks = list(score_file(p, tiny_model, chunk_size=7))
    assert len(chunks) == 5
    out = __import__("pandas").concat(chunks, ignore_index=True)
    assert list(out["row"]) == list(range(1, len(lines) + 1))
    errors = out[out["error"] != ""]
    assert list(errors["row"]) == [16, 17] and errors["score"].isna().all()
    good = [t for t in lines if t.strip()]
    np.testing.assert_allclose(out["score"].dropna().to_numpy(), tiny_model.predict_proba(good))


def test_score_to_csv_atomic_output_and_summary(tiny_model, tmp_path):
    src = tmp_path / "m.csv"
    src.write_text("msg_id,text\na1,Мамо виходьте на Майдан нас кинули\na2,\n", encoding="utf-8")
    out = tmp_path / "out" / "scored.csv"
    summary = score_to_csv([src], out, tiny_model, id_column="msg_id")
    assert (summary.rows, summary.scored, summary.errors) == (2, 1, 1)
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert list(rows[0]) == ["source", "row", "msg_id", "lang", "score", "flagged", "error"]
    assert (
        rows[0]["msg_id"] == "a1"
        and rows[0]["flagged"] in ("true", "false")
        and 0 <= float(rows[0]["score"]) <= 1
    )
    assert rows[1] == {
        "source": str(src),
        "row": "2",
        "msg_id": "a2",
        "lang": "",
        "score": "",
        "flagged": "",
        "error": "empty text",
    }
    assert [p.name for p in out.parent.iterdir()] == ["scored.csv"]


def test_failed_run_leaves_previous_output_whole(tiny_model, tmp_path):
    out = tmp_path / "scored.csv"
    out.write_text("old complete output\n", encoding="utf-8")
    good = tmp_path / "a.txt"
    good.write_text("мамо\n", encoding="utf-8")
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"other": 1}\n', encoding="utf-8")  # missing text field: unusable input
    try:
        score_to_csv([good, bad], out, tiny_model)
    except Exception as exc:
        assert "no field 'text'" in str(exc)
    else:
        raise AssertionError("expected the run to fail")
    assert out.read_text(encoding="utf-8") == "old complete output\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.jsonl", "scored.csv"]
