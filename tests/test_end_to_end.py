"""Train on the real label store and score the README's sample, as a new user would."""

import csv
import io

import pytest
from click.testing import CliRunner

from classifier.cli import cli

from .test_docs import ROOT


@pytest.mark.slow
def test_default_model_on_real_store(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    models = tmp_path / "models"
    result = CliRunner().invoke(cli, ["score", "datasets/samples/messages.txt", "--models-dir", str(models)])
    assert result.exit_code == 0, result.output
    assert "training the default model" in result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    lines = (ROOT / "datasets" / "samples" / "messages.txt").read_text(encoding="utf-8").splitlines()
    assert len(rows) == len(lines)

    from classifier import load_model

    model = load_model(models_dir=models)
    card = model.card
    # Quality floors well below what the README reports, so that the test fails on a
    # broken pipeline or a damaged store, not on noise.
    assert card["cv"]["overall"]["f1"] >= 0.90 and card["cv"]["overall"]["precision"] >= 0.90
    assert card["heldout"]["overall"]["f1"] >= 0.85
    assert card["threshold_target_met"]
    flagged = {int(r["row"]) for r in rows if r["flagged"] == "true"}
    # Sample lines 2, 3 and 6 are unmistakable appeals; 4, 7 and 14 are plainly not.
    assert {2, 3, 6} <= flagged
    assert not {4, 7, 14} & flagged
