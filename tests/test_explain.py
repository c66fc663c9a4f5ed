"""explain: contributions reproduce the model's decision value and score, on the CLI too."""

import numpy as np
import pytest
from click.testing import CliRunner

from classifier.cli import cli
from classifier.explain import explain, format_explanation
from classifier.normalize import normalize_codepoints
from classifier.scoring import score_texts

from .conftest import NEGATIVES, POSITIVES, model_opts

TEXTS = [t for _, t in POSITIVES] + [t for *_, t in NEGATIVES] + ["ВЫХОДИТЕ НА МАЙДАН!!!!! https://t.me/x"]


@pytest.mark.parametrize("text", TEXTS[:3] + TEXTS[-4:])
def test_contributions_plus_intercept_are_the_decision_value(tiny_model, text):
    e = explain(text, tiny_model)
    scorer = tiny_model.scorer
    z, _, _, _ = scorer.decision(*normalize_codepoints([text]), n_reasons=0)
    assert e.intercept == scorer.intercepts[0]
    assert e.decisions == pytest.approx(tuple(z[0]), abs=1e-9)
    assert e.intercept + sum(f.contribution for f in e.features) == pytest.approx(z[0, 0], abs=1e-9)
    # each condition head adds up the same way, and its probability is the scorer's
    conditions = scorer.conditions(z)[0]
    assert [c.probability for c in e.conditions] == pytest.approx(list(conditions), abs=1e-12)
    for h, c in enumerate(e.conditions, start=1):
        assert scorer.intercepts[h] + sum(f.contribution for f in c.features) == pytest.approx(
            z[0, h], abs=1e-9
        )
    api = score_texts([text], tiny_model).iloc[0]
    assert e.score == pytest.approx(api["score"], abs=1e-12)
    assert e.flagged == bool(api["flagged"])
    # every contribution is its tf-idf value times the model's coefficient for the column
    for f in e.features:
        assert f.contribution == pytest.approx(f.tfidf * f.weight, rel=1e-12, abs=1e-15)
    assert np.sqrt(sum(f.tfidf**2 for f in e.features)) == pytest.approx(1.0)


def test_ngrams_are_the_texts_words_and_fragments(tiny_model):
    e = explain("Мамо, виходьте на Майдан", tiny_model)
    labels = {(kind, text) for f in e.features for kind, text, *_ in f.ngrams}
    assert ("word", "виходьте") in labels and ("2 words", "виходьте на") in labels
    assert ("chars", " ви") in labels and ("chars", "мамо") in labels
    assert ("2 words", "мамо, виходьте") in labels
    up = e.up(3)
    assert [f.contribution for f in up] == sorted((f.contribution for f in up), reverse=True)
    assert all(f.contribution > 0 for f in up) and all(f.contribution < 0 for f in e.down(3))


def test_english_fragments_read_as_english(tiny_model):
    e = explain("Mom, go out and protest", tiny_model)
    assert e.normalized == "mom, go out and protest"
    assert ("word", "protest") in {(k, t) for f in e.features for k, t, *_ in f.ngrams}


def test_collisions_are_reported_and_still_add_up(tiny_model):
    # ~6,000 distinct n-grams in 2^19 columns: a few collisions are all but certain
    rng = np.random.default_rng(1)
    letters = list("абвгдежзийклмнопрстуфхцчшщьюяієї")
    words = ["".join(rng.choice(letters, size=rng.integers(3, 9))) for _ in range(700)]
    text = " ".join(words)
    e = explain(text, tiny_model)
    shared = [f for f in e.features if len(f.ngrams) > 1]
    assert e.collisions == len(shared) > 0
    z, _, _, _ = tiny_model.scorer.decision(*normalize_codepoints([text]), n_reasons=0)
    assert e.decision == pytest.approx(z[0, 0], abs=1e-9)
    assert " + " in shared[0].label()
    assert f"note: {e.collisions} column(s) are shared" in format_explanation(e)


def test_explain_cli_argument_and_stdin_agree(tiny_model):
    text = TEXTS[0]
    args = ["explain", *model_opts(tiny_model), "--top", "3"]
    direct = CliRunner().invoke(cli, [*args, text])
    piped = CliRunner().invoke(cli, [*args, "-"], input=text)
    assert direct.exit_code == piped.exit_code == 0, direct.output
    assert direct.stdout == piped.stdout
    lines = direct.stdout.splitlines()
    e = explain(text, tiny_model)
    assert lines[0] == f"model {tiny_model.version}  threshold {tiny_model.threshold:.4f}"
    assert lines[1].startswith(f"score {e.score:.6f}  FLAGGED")
    up = lines.index("pushed the pattern head up:")
    down = lines.index("pushed the pattern head down:")
    assert "the guide's conditions (each head's probability, and what shows it most):" in lines
    assert down - up == 4 and len(lines) >= down + 4
    assert lines[up + 1].split()[0] == f"{e.up(1)[0].contribution:+.4f}"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["x", "--model", "19990101T000000Z"], 2, "Error: model version '19990101T000000Z' does not exist"),
        (["\u200b  "], 2, "Error: the text is empty (after normalisation)"),
    ],
)
def test_explain_errors_are_one_line(tiny_model, args, code, message):
    result = CliRunner().invoke(cli, ["explain", "--models-dir", str(tiny_model.path.parent), *args])
    assert result.exit_code == code and "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message)
