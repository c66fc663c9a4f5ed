"""Batch scoring: every row accounted for, in order, the same scores on every path."""

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest

from classifier.normalize import normalize_text
from classifier.readers import MAX_CHARS
from classifier.scorer import LinearScorer
from classifier.scoring import score_file, score_files, score_texts

from .conftest import NEGATIVES, POSITIVES

TEXTS = [t for _, t in POSITIVES] + [t for *_, t in NEGATIVES]


def _served(texts, proba):
    """The pipeline's probabilities with the scorer's cap on messages of fewer than three distinct words."""
    import re

    from classifier.scorer import MIN_WORDS, SHORT_CAP

    words = [len(set(re.findall(r"(?:[^\W_]|')+", normalize_text(t)))) for t in texts]
    return np.where(np.array(words) < MIN_WORDS, np.minimum(proba, SHORT_CAP), proba)


def test_compiled_scorer_equals_the_sklearn_pipeline(tiny_model):
    noisy = [*TEXTS, "", "😀", "a" * 3000, "ПPOTECT HA MAЙДAHI", "x\udc80y"]
    expected = _served(noisy, tiny_model.pipeline.predict_proba(noisy)[:, 1])
    np.testing.assert_allclose(
        LinearScorer.from_pipeline(tiny_model.pipeline).predict_proba(noisy), expected, rtol=1e-9, atol=1e-12
    )


def test_saved_scorer_arrays_score_identically_without_unpickling(tiny_model, tmp_path):
    from classifier.registry import Registry

    reg = Registry(tmp_path / "models")
    version = reg.save(tiny_model.pipeline, {"threshold": 0.5})
    loaded = reg.load(version)
    scores = loaded.predict_proba(TEXTS)
    assert loaded._pipeline is None  # scoring read scorer.npz only: nothing was unpickled
    np.testing.assert_array_equal(scores, tiny_model.predict_proba(TEXTS))
    with open(reg.root / version / "scorer.npz", "ab") as fh:
        fh.write(b"x")
    with pytest.raises(Exception, match="does not match its model card"):
        reg.load(version)


def test_score_texts_columns_threshold_and_reasons(tiny_model):
    df = score_texts(TEXTS, tiny_model)
    assert list(df.columns) == ["text", "lang", "score", "flagged", "reasons"]
    np.testing.assert_array_equal(df["score"], tiny_model.predict_proba(TEXTS))
    assert (df["flagged"] == (df["score"] >= tiny_model.threshold)).all()
    top = df.sort_values("score").iloc[-1]
    # reasons name the guide's three conditions, each with a fragment of the message
    # itself (after normalisation), not feature ids
    parts = top["reasons"].split("; ")
    assert [p.split(":")[0] for p in parts] == ["captive", "addressed home", "urges pressure"]
    fragments = [p.split(": ", 1)[1].strip('"') for p in parts if '"' in p]
    assert fragments and all(f in normalize_text(top["text"]) for f in fragments)
    lowered = score_texts(TEXTS, tiny_model, threshold=0.0)
    assert lowered["flagged"].all()


def _write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_score_file_every_row_in_order(tiny_model, tmp_path):
    lines = [*TEXTS[:15], "", "   ", *TEXTS[15:]]
    path = _write_lines(tmp_path / "m.txt", lines)
    chunks = list(score_file(path, tiny_model, chunk_size=7))
    assert len(chunks) == 5
    out = pd.concat(chunks, ignore_index=True)
    assert list(out["row"]) == list(range(1, len(lines) + 1))
    errors = out[out["error"] != ""]
    assert list(errors["row"]) == [16, 17] and errors["score"].isna().all()
    np.testing.assert_array_equal(out["score"].dropna().to_numpy(), tiny_model.predict_proba(TEXTS))


def test_jobs_two_keeps_order_and_scores_identical(tiny_model, tmp_path):
    lines = [f"{TEXTS[i % len(TEXTS)]} {i}" for i in range(2500)]
    path = _write_lines(tmp_path / "m.txt", lines)
    one = pd.concat(score_file(path, tiny_model, chunk_size=100, jobs=1), ignore_index=True)
    two = pd.concat(score_file(path, tiny_model, chunk_size=100, jobs=2), ignore_index=True)
    assert list(two["row"]) == list(range(1, 2501))
    pd.testing.assert_frame_equal(one, two)
    api = score_texts(lines, tiny_model)
    np.testing.assert_array_equal(api["score"].to_numpy(), one["score"].to_numpy())
    assert list(api["reasons"]) == list(one["reasons"])


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_output_formats_round_trip(tiny_model, tmp_path, fmt):
    src = tmp_path / "m.csv"
    src.write_text("msg_id,text\na1,Мамо виходьте на Майдан нас кинули\na2,\n", encoding="utf-8")
    out = tmp_path / f"scored.{fmt}"
    summary = score_files([src], out, tiny_model, id_column="msg_id", jobs=1)
    assert (summary.rows, summary.scored, summary.errors, summary.written) == (2, 1, 1, 2)
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
        assert list(rows[0]) == [
            "source",
            "row",
            "msg_id",
            "lang",
            "score",
            "flagged",
            "reasons",
            "truncated",
            "error",
        ]
        assert rows[1]["score"] == "" and rows[1]["flagged"] == "" and rows[1]["error"] == "empty text"
        assert rows[0]["flagged"] in ("true", "false") and rows[0]["truncated"] == "false"
    elif fmt == "jsonl":
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        assert (
            rows[0]["row"] == 1
            and isinstance(rows[0]["score"], float)
            and isinstance(rows[0]["flagged"], bool)
        )
        assert rows[1]["score"] is None and rows[1]["flagged"] is None and rows[1]["msg_id"] == "a2"
    else:
        rows = pd.read_parquet(out).to_dict("records")
        assert rows[0]["msg_id"] == "a1" and rows[1]["error"] == "empty text"
        assert np.isnan(rows[1]["score"])
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_empty_input_gives_header_only(tiny_model, tmp_path):
    (tmp_path / "e.txt").write_bytes(b"")
    out = tmp_path / "o.csv"
    summary = score_files([tmp_path / "e.txt"], out, tiny_model, jobs=1)
    assert summary.rows == 0
    assert out.read_text(encoding="utf-8") == "" or out.read_text(encoding="utf-8").startswith("source,row")


def test_only_flagged_keeps_flagged_and_error_rows(tiny_model, tmp_path):
    lines = [*TEXTS, ""]
    src = _write_lines(tmp_path / "m.txt", lines)
    out = tmp_path / "o.csv"
    summary = score_files([src], out, tiny_model, only_flagged=True, jobs=1)
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert summary.rows == len(lines) and summary.written == len(rows) == summary.flagged + 1
    assert all(r["flagged"] == "true" or r["error"] for r in rows)


def test_failed_run_leaves_previous_output_whole(tiny_model, tmp_path):
    out = tmp_path / "scored.csv"
    out.write_text("old complete output\n", encoding="utf-8")
    good = _write_lines(tmp_path / "a.txt", ["мамо"])
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"other": 1}\n', encoding="utf-8")  # missing text field: unusable input
    with pytest.raises(Exception, match="no field 'text'"):
        score_files([good, bad], out, tiny_model)
    assert out.read_text(encoding="utf-8") == "old complete output\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.jsonl", "scored.csv"]


def test_five_megabyte_line_scores_like_the_pipeline(tiny_model, tmp_path):
    line = ("Мамо, виходьте на Майдан, нас тут покинули. " * 120_000)[: 5 * 1024 * 1024]
    src = tmp_path / "big.txt"
    src.write_text(f"коротко\n{line}\nще одне\n", encoding="utf-8")
    out = pd.concat(score_file(src, tiny_model), ignore_index=True)
    assert list(out["row"]) == [1, 2, 3] and (out["error"] == "").all()
    assert list(out["truncated"]) == [False, True, False]  # scored on its first MAX_CHARS characters
    texts = ["коротко", line[:MAX_CHARS], "ще одне"]
    expected = _served(texts, tiny_model.pipeline.predict_proba(texts)[:, 1])
    np.testing.assert_allclose(out["score"].to_numpy(), expected, rtol=1e-9)


def test_fewer_than_three_distinct_words_are_never_flagged(tiny_model):
    from classifier.explain import explain
    from classifier.scorer import SHORT_CAP

    short = ["вимагайте вимагайте вимагайте", "Мамо", "ВИХОДЬТЕ на Майдан"[:8], "требуйте требуйте"]
    scores = tiny_model.predict_proba(short)
    assert (scores <= SHORT_CAP).all()
    assert explain(short[0], tiny_model).score == scores[0]
    # three distinct words are scored by the model as usual
    assert tiny_model.predict_proba(["вимагайте, виходьте, мамо"])[0] > SHORT_CAP
