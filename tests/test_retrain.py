"""Label merging, the promotion gate, rollback, the lock, suggestions, the audit."""

import csv
import hashlib
import json

import pytest
from click.testing import CliRunner

from classifier.cli import cli
from classifier.errors import DataError, ModelNotFoundError, RegistryLockedError
from classifier.labels import load_store, read_labelled, store_files, validate
from classifier.merge import add_labels
from classifier.promotion import retrain
from classifier.registry import Registry
from classifier.training import train

from .conftest import NEGATIVES, POSITIVES, tiny_rows, write_store

HELDOUT = [
    (1, "uk", "Мамо, нас тут тримають, ідіть під Раду і вимагайте обміну, влада забула нас"),
    (1, "ru", "Родные, мы в плену, выходите к офису президента, пусть нас обменяют"),
    (1, "en", "Mom, we are prisoners here, go protest at the parliament, they abandoned us"),
    (0, "uk", "Мамо, я живий і здоровий, годують, не переживай"),
    (0, "ru", "Завтра собрание жильцов в 19:00 во дворе"),
    (0, "en", "Rally against the new parking fees on Saturday at city hall"),
]


def _heldout(path):
    rows = [
        dict(
            text=t,
            label=lab,
            lang=lang,
            category="coerced_appeal" if lab else "everyday",
            source="t",
            group=f"h{i}",
            writer="heldout-writer",
        )
        for i, (lab, lang, t) in enumerate(HELDOUT)
    ]
    return write_store(path / "heldout" / "h.csv", rows).parent


def _new_labels(path, rows, name="new.csv"):
    with open(path / name, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=sorted({k for r in rows for k in r}), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return path / name


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.csv"))}


def test_add_merges_without_loss_and_normalises_labels(tiny_store, tmp_path):
    before = _digest(tiny_store)
    new = _new_labels(
        tmp_path,
        [
            {"text": "Мамо, йдіть під Банкову, нас тут кинули, вимагайте обміну!", "label": "yes"},
            {"text": "Купіть, будь ласка, хліба", "label": "No", "category": "everyday"},
            {"text": "Sis, go to the Rada and make them answer, we are still held here", "label": "TRUE"},
            {"text": "hello neighbours, meeting tonight", "label": "false", "annotator": "olena"},
        ],
    )
    report = add_labels([new], tiny_store, source="hotline-week48", annotator="taras")
    assert (report.read, report.added, len(report.conflicts)) == (4, 4, 0)
    assert _digest(tiny_store).items() >= before.items()  # old files byte for byte the same
    df, problems = read_labelled(store_files([tiny_store]))
    assert not problems and not validate(df) and len(df) == 30 + 4
    added = df[df["file"] == str(report.written)]
    assert list(added["label"]) == ["1", "0", "1", "0"]
    assert list(added["category"]) == ["coerced_appeal", "everyday", "coerced_appeal", "unsorted"]
    assert set(added["source"]) == {"hotline-week48"} and list(added["annotator"]) == [
        "taras",
        "taras",
        "taras",
        "olena",
    ]
    assert added["added"].str.match(r"\d{4}-\d\d-\d\d").all() and added["group"].is_unique


def test_add_skips_exact_and_near_duplicates(tiny_store, tmp_path):
    text = POSITIVES[0][1]
    new = _new_labels(
        tmp_path, [{"text": text, "label": "1"}, {"text": "  " + text.upper() + " ", "label": "1"}]
    )
    report = add_labels([new], tiny_store)
    assert (report.added, report.exact_duplicates, report.near_duplicates) == (0, 1, 1)
    assert report.written is None and len(list(tiny_store.glob("*.csv"))) == 1


def test_conflicts_are_refused_listed_or_resolved(tiny_store, tmp_path):
    text = NEGATIVES[0][2]  # stored as 0
    new = _new_labels(tmp_path, [{"text": text, "label": "1"}, {"text": "зовсім новий текст", "label": "0"}])
    with pytest.raises(DataError, match=r"1 conflict\(s\).*says 1, tiny.csv:17 says 0.*--resolve"):
        add_labels([new], tiny_store)
    assert len(list(tiny_store.glob("*.csv"))) == 1  # nothing written

    keep = add_labels([new], tiny_store, resolve="keep")
    assert keep.added == 1 and len(keep.conflicts) == 1
    assert load_store([tiny_store]).set_index("text").loc[text, "label"] == 0

    newest = add_labels([new], tiny_store, resolve="newest")
    assert newest.added == 1  # the new text was added already by "keep": now a duplicate; the conflict wins
    store = load_store([tiny_store])
    assert store.set_index("text").loc[text, "label"] == 1  # superseding row is trained on, old one is not
    df, _ = read_labelled(store_files([tiny_store]))
    assert (df["text"] == text).sum() == 2  # ...but both stay on disk


def test_invalid_new_rows_are_all_listed_and_nothing_added(tiny_store, tmp_path):
    new = _new_labels(
        tmp_path,
        [
            {"text": "a", "label": "maybe"},
            {"text": "", "label": "1"},
            {"text": "b", "label": "1", "category": "scam"},
        ],
    )
    with pytest.raises(
        DataError,
        match=r"3 invalid row\(s\).*new.csv:2 \[label\]: label 'maybe'.*new.csv:3 \[text\]: empty text"
        r".*new.csv:4 \[category\]: label 1 needs category coerced_appeal, got 'scam'",
    ):
        add_labels([new], tiny_store)
    assert len(list(tiny_store.glob("*.csv"))) == 1


def test_cli_labels_add_exit_codes(tiny_store, tmp_path, monkeypatch):
    monkeypatch.setenv("COERCION_CLASSIFIER_HOME", str(tmp_path))
    new = _new_labels(tmp_path, [{"text": NEGATIVES[1][2], "label": "1"}])
    result = CliRunner().invoke(cli, ["labels", "add", str(new), "--store", str(tiny_store)])
    assert result.exit_code == 1 and result.stderr.startswith("Error: 1 conflict(s)")
    result = CliRunner().invoke(
        cli, ["labels", "add", str(new), "--store", str(tiny_store), "--resolve", "keep"]
    )
    assert (
        result.exit_code == 0 and "0 added" in result.stdout and "conflict with the store:" in result.stderr
    )


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A home with the tiny store, a tiny held-out split and a current model."""
    write_store(tmp_path / "datasets" / "labelled" / "tiny.csv", tiny_rows())
    _heldout(tmp_path / "datasets")
    monkeypatch.setenv("COERCION_CLASSIFIER_HOME", str(tmp_path))
    first = train(quiet=True)
    return tmp_path, Registry(tmp_path / "models"), first.version


def test_gate_promotes_an_equal_candidate_and_records_parent(project):
    _home, registry, first = project
    result = retrain(quiet=True)
    assert result.promoted and registry.current_version() == result.candidate != first
    card = registry.card(result.candidate)
    assert card["parent"] == first and card["data_changes"]["rows_added"] == 0


def test_retrain_replaces_a_model_built_on_older_text_features(project):
    _home, registry, first = project
    card_path = registry.root / first / "model.json"
    card = json.loads(card_path.read_text())
    card["features_version"] = 1
    card_path.write_text(json.dumps(card))
    result = retrain(quiet=True)
    assert result.promoted and registry.current_version() == result.candidate != first
    assert "cannot be used" in result.reasons[0] and "text features of version 1" in result.reasons[0]


def test_gate_refuses_a_worse_candidate_then_force_promotes(project):
    home, registry, first = project
    flipped = [{"text": t, "label": "0", "category": "unsorted"} for _, t in POSITIVES[:11]]
    add_labels([_new_labels(home, flipped)], home / "datasets" / "labelled", resolve="newest")
    result = retrain(quiet=True)
    assert not result.promoted and result.reasons
    assert "held-out" in result.reasons[0] and registry.current_version() == first
    assert result.candidate in registry.versions()  # registered, not current
    assert registry.card(result.candidate)["data_changes"]["files_added"]
    forced = retrain(quiet=True, force=True)
    assert forced.promoted and registry.current_version() == forced.candidate


def test_rollback_and_history(project):
    _home, registry, first = project
    second = retrain(quiet=True).candidate
    assert registry.current_version() == second
    assert registry.rollback() == first and registry.current_version() == first
    actions = [h["action"] for h in registry.history()]
    assert actions == ["train", "retrain", "rollback"]
    result = CliRunner().invoke(cli, ["models", "list"])
    assert result.exit_code == 0 and f"* {first}" in result.stdout and second in result.stdout
    result = CliRunner().invoke(cli, ["models", "promote", second])
    assert result.exit_code == 0 and registry.current_version() == second
    result = CliRunner().invoke(cli, ["models", "show", second])
    assert f'"version": "{second}"' in result.stdout


def test_lock_refuses_a_second_writer(project):
    _home, registry, first = project
    with registry.lock():
        with pytest.raises(RegistryLockedError, match="is locked by pid"):
            retrain(quiet=True)
        result = CliRunner().invoke(cli, ["models", "promote", first])
        assert result.exit_code == 1 and "is locked" in result.stderr and "Traceback" not in result.output
    assert registry.current_version() == first


def test_crash_during_retrain_leaves_current_and_store_intact(project, monkeypatch):
    home, registry, first = project
    store = home / "datasets" / "labelled"
    before = _digest(store)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("classifier.registry.Registry.save", boom)
    with pytest.raises(OSError, match="disk full"):
        retrain(quiet=True)
    monkeypatch.undo()
    assert registry.current_version() == first and registry.versions() == [first]
    assert registry.load().predict_proba(["мамо"]).shape == (1,)
    assert _digest(store) == before


def test_suggest_output_goes_straight_into_labels_add(project):
    home, _registry, _first = project
    pool = home / "pool.txt"
    lines = (
        [f"{t} {i}" for i in range(3) for t in (p for _, p in POSITIVES)]
        + [t for *_, t in NEGATIVES]
        + [
            "Зовсім нове повідомлення про погоду",
            "Мамо, тут нормально, але скажи всім хай ідуть до Ради",
            "Hello, the meeting is moved to Friday",
        ]
    )
    pool.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["suggest", str(pool), "-n", "5", "-o", str(home / "to_label.csv")])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(open(home / "to_label.csv", encoding="utf-8")))
    assert 1 <= len(rows) <= 5 and all(r["label"] == "" for r in rows)
    labelled = {t for _, t in POSITIVES} | {t for *_, t in NEGATIVES}
    assert not any(r["text"] in labelled for r in rows)  # already-labelled texts are never suggested
    for r in rows:
        r["label"] = "1" if "Ради" in r["text"] else "0"
    _new_labels(home, rows, "filled.csv")
    result = CliRunner().invoke(cli, ["labels", "add", str(home / "filled.csv"), "--source", "suggest-test"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{len(rows)} row{'' if len(rows) == 1 else 's'} read: ")


def test_audit_puts_a_flipped_label_first(tmp_path):
    rows = tiny_rows()
    rows[5]["label"], rows[5]["category"] = 0, "everyday"  # a clear appeal (twin of row 0), mislabelled 0
    write_store(tmp_path / "s" / "s.csv", rows)
    from classifier.audit import audit_labels

    everything = audit_labels([tmp_path / "s"], min_suspicion=0.0)
    assert len(everything) == 30 and list(everything["suspicion"]) == sorted(
        everything["suspicion"], reverse=True
    )
    found = audit_labels([tmp_path / "s"])  # default: suspicion >= 0.5
    flipped = found[found["text"] == rows[5]["text"]]
    assert len(flipped) == 1 and flipped.iloc[0]["line"] == 7 and flipped.iloc[0]["label"] == 0
    assert len(found) < len(everything) and (found["suspicion"] >= 0.5).all()


def test_rollback_walks_the_history(tiny_model, tmp_path):
    registry = Registry(tmp_path / "models")
    a, b, c = (registry.save(tiny_model.pipeline, {"threshold": t}) for t in (0.3, 0.4, 0.5))
    assert registry.rollback() == b and registry.current_version() == b
    assert registry.rollback() == a and registry.current_version() == a  # further back, not to c
    with pytest.raises(ModelNotFoundError, match="no earlier current version"):
        registry.rollback()
    registry.set_current(c)
    assert registry.rollback() == a  # c replaced a: back to a
    result = CliRunner().invoke(cli, ["models", "--models-dir", str(registry.root), "rollback"])
    assert result.exit_code == 1 and "no earlier current version" in result.stderr
