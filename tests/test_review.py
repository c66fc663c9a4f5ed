"""review: the queue, its SQLite decisions (durable through SIGKILL), kappa, export as labels add, --redact."""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.metrics import cohen_kappa_score

from classifier.cli import cli
from classifier.decisions import Decisions, agreement, format_agreement, item_key
from classifier.labels import read_labelled, store_files
from classifier.redact import luhn_ok, redact
from classifier.review import CATEGORY_KEYS, ReviewQueue, campaign_group, create_app, load_items

from .conftest import model_opts, tiny_rows, write_store

ROOT = Path(__file__).resolve().parent.parent

# New messages (none in the tiny store): the first four are one campaign.
CAMPAIGN = [
    "Мамо, ми в полоні, виходьте на Майдан, вимагайте обміну, нас покинули",
    "Мамо ми в полоні виходьте на майдан вимагайте обміну нас покинули!",
    "мамо, ми в полоні. Виходьте на Майдан і вимагайте обміну, нас покинули",
    "МАМО МИ В ПОЛОНІ ВИХОДЬТЕ НА МАЙДАН ВИМАГАЙТЕ ОБМІНУ НАС ПОКИНУЛИ",
]
OTHERS = [
    "<script>window.pwned=1</script> рідні виходьте на вулиці, тисніть на владу, нас тут кинули",
    '<img src=x onerror="window.pwned=2"> дружино, збирай жінок під Раду, нас не міняють',
    "Тато, подзвони +380 67 123 45 67 або напиши @vanya_ua, я в полоні, виходьте на протест",
    "Мамо, я живий, мене годують, не хвилюйся",
    "Купи молока і хліба, будь ласка",
    "Мітинг проти тарифів у суботу біля мерії",
    "Росія змушує полонених дзвонити рідним і закликати до протестів",
    "Привіт, як справи у школі?",
    "Родини полонених збираються в неділю, приходьте",
    "Надішліть документи до координаційного штабу",
    "Brothers, go out and block the roads, Kyiv forgot us in captivity",
]
HELDOUT_TEXT = OTHERS[-1]


@pytest.fixture
def workspace(tmp_path):
    """A workspace with the tiny store and a held-out set holding one of the messages."""
    root = tmp_path / "ws"
    write_store(root / "datasets" / "labelled" / "tiny.csv", tiny_rows())
    held = dict(tiny_rows()[0], text=HELDOUT_TEXT, group="h1", writer="held")
    write_store(root / "datasets" / "heldout" / "held.csv", [held])
    (root / "coercion-classifier.toml").write_text("[workspace]\n", encoding="utf-8")
    return root


@pytest.fixture
def scored(workspace, tiny_model, tmp_path):
    """A file score wrote (with --include-text), plus a campaign column for the first four rows."""
    messages = tmp_path / "m.txt"
    messages.write_text("\n".join(CAMPAIGN + OTHERS) + "\n", encoding="utf-8")
    out = tmp_path / "scored.csv"
    run = CliRunner().invoke(
        cli, ["score", str(messages), *model_opts(tiny_model), "--include-text", "-o", str(out), "-j", "1"]
    )
    assert run.exit_code == 0, run.output
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    frame["campaign"] = ["c1"] * 4 + [""] * len(OTHERS)
    frame.to_csv(out, index=False)
    return out


def _cli(workspace, *args):
    return CliRunner().invoke(cli, ["--home", str(workspace), *map(str, args)])


# --- redaction ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("дзвони +380 67 123 45 67", "дзвони [phone]"),
        ("тел. 067-123-45-67.", "тел. [phone]."),
        ("звоните +7 (912) 345-67-89", "звоните [phone]"),
        ("8 (912) 345-67-89", "[phone]"),
        ("+380671234567 / 0671234567", "[phone] / [phone]"),
        ("пишіть olena.k@ukr.net!", "пишіть [email]!"),
        ("Іван@пошта.укр", "[email]"),
        ("картка 4111 1111 1111 1111", "картка [card]"),
        ("5375-4141-0123-4564 і 4111111111111111", "[card] і [card]"),
        ("пиши @vanya_ua або @Olena2024", "пиши [handle] або [handle]"),
        # a card followed by an amount: the card's own groups are Luhn-tested, the amount stays
        ("картка 4111 1111 1111 1111 500 грн", "картка [card] 500 грн"),
        ("4111.1111.1111.1111, 4111\u00a01111\u00a01111\u00a01111", "[card], [card]"),
        ("картка4111111111111111", "картка[card]"),
        ("3782 822463 10005", "[card]"),
        ("+380\u00a067\u00a0123\u00a045\u00a067", "[phone]"),
        ("+380\u202f67\u2009123\u202f45\u202f67", "[phone]"),
        ("380671234567", "[phone]"),
        ("067–123–45–67", "[phone]"),
        ("з 12.03.2024 дзвони 067 123 45 67", "з 12.03.2024 дзвони [phone]"),
        ("t.me/vanya_ua або https://t.me/vanya_ua.", "[handle] або [handle]."),
    ],
)
def test_redact_masks_personal_data(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "12.03.2024 о 18:00",
        "2024-03-12",
        "у 1941-1945 роках, потім 2024 2025 2026",
        "заплатіть 500 доларів, 15 000 грн",
        "5 @ 10 і ще @ тут",
        "id 1234567890, замовлення 4111111111111112",  # 16 digits, but no card: Luhn fails
        "a@b, @abc (too short for Telegram)",
        "рахунок 26 00 12",
        "01.02.2024 03.04",
        "08.03.2024-12.04.2024",
        "8 000 000 000 грн",
        "з 01/02/2024 по 2024-03-12",
    ],
)
def test_redact_leaves_dates_years_numbers_and_lone_at(text):
    assert redact(text) == text


def test_luhn():
    assert luhn_ok("79927398713") and not luhn_ok("79927398710")


def test_score_redact_masks_text_and_reasons(tiny_model, tmp_path):
    messages = tmp_path / "m.txt"
    messages.write_text(OTHERS[2] + "\n" + OTHERS[3] + "\n", encoding="utf-8")
    out = tmp_path / "o.csv"
    run = CliRunner().invoke(
        cli,
        ["score", str(messages), *model_opts(tiny_model), "--include-text", "--redact", "-o", str(out),
         "--threshold", "0.0001", "-j", "1"],
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    text = out.read_text(encoding="utf-8")
    assert "[phone]" in text and "[handle]" in text
    assert "123 45 67" not in text and "vanya_ua" not in text


# --- the queue ---------------------------------------------------------------------------------


def test_items_highest_score_first_with_conditions_and_campaign_size(scored, tiny_model):
    items = load_items(scored, tiny_model)
    assert len(items) == len(CAMPAIGN) + len(OTHERS)
    scores = [i.score for i in items]
    assert scores == sorted(scores, reverse=True)
    assert all(i.conditions is not None and len(i.conditions) == 3 for i in items)
    assert {i.campaign_size for i in items if i.campaign == "c1"} == {4}
    assert {i.campaign_size for i in items if not i.campaign} == {1}


def test_missing_text_column_is_one_line(workspace, tiny_model, tmp_path):
    messages = tmp_path / "m.txt"
    messages.write_text("Мамо, я живий\n", encoding="utf-8")
    out = tmp_path / "no_text.csv"
    CliRunner().invoke(cli, ["score", str(messages), *model_opts(tiny_model), "-o", str(out), "-j", "1"])
    run = _cli(workspace, "review", out, *model_opts(tiny_model))
    assert run.exit_code == 2  # an input error
    assert run.stderr.strip().splitlines() == [
        f"Error: {out} has no text column; rescore with --include-text "
        "(coercion-classifier score INPUT --include-text -o FILE)"
    ]


def test_campaigns_file_each_decision_covers_a_campaign(tmp_path, tiny_model, workspace):
    path = tmp_path / "campaigns.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            ["campaign", "size", "first_seen", "last_seen", "languages", "sources", "max_score", "text"]
        )
        w.writerow(["k1", "12", "2024-01-01", "2024-02-01", "uk", "a.csv", "0.7", CAMPAIGN[0]])
        w.writerow(["k2", "3", "2024-01-05", "2024-01-06", "ru", "b.csv", "0.9", OTHERS[0]])
    items = load_items(path, tiny_model)
    assert [(i.campaign, i.campaign_size, i.is_campaign) for i in items] == [
        ("k2", 3, True),
        ("k1", 12, True),
    ]
    queue = ReviewQueue(items, Decisions(workspace / "review" / "decisions.sqlite"), "olena")
    assert queue.decide(items[0], 1, whole_campaign=True) == 1  # one decision: the campaign k2
    assert queue.current() is items[1] and queue.progress() == (1, 2)
    run = _cli(workspace, "review", "--export")
    assert run.exit_code == 0 and "review:campaigns.csv: 1 row read: 1 added" in run.stdout, run.output
    rows = _store_rows(workspace)
    assert len(rows) == 1
    row = rows.iloc[0]
    assert row["text"] == OTHERS[0] and row["label"] == "1"
    assert row["source"] == "review:campaigns.csv (from campaign k2)"
    assert row["group"] == campaign_group("campaigns.csv", "k2")  # cross-validation holds k2 out whole


def _app(scored, model, db, annotator="olena", export=None):
    queue = ReviewQueue(load_items(scored, model), Decisions(db), annotator)
    app = create_app(queue, "TOKEN", export=export)
    return queue, app.test_client()


def test_every_request_needs_the_token(scored, tiny_model, tmp_path):
    _, client = _app(scored, tiny_model, tmp_path / "d.sqlite")
    assert client.get("/").status_code == 403
    assert client.get("/?t=WRONG").status_code == 403
    assert client.post("/decide", data={"action": "undo"}).status_code == 403
    assert client.post("/decide", data={"action": "undo", "t": "TOKEN!"}).status_code == 403
    assert client.get("/?t=TOKEN").status_code == 200


def test_page_escapes_hostile_text_and_allows_only_its_own_script(scored, tiny_model, tmp_path):
    queue, client = _app(scored, tiny_model, tmp_path / "d.sqlite")
    while queue.current().text != OTHERS[0]:  # label until the hostile message is shown
        queue.decide(queue.current(), 1)
    response = client.get("/?t=TOKEN")
    page = response.get_data(as_text=True)
    assert "<script>window.pwned" not in page and "&lt;script&gt;window.pwned=1&lt;/script&gt;" in page
    nonce = re.search(r"script-src 'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
    scripts = re.findall(r"<script([^>]*)>", page)
    assert scripts == [f' nonce="{nonce}"']
    assert "http://" not in page and "https://" not in page  # nothing remote


def test_decide_skip_undo_and_campaign(scored, tiny_model, tmp_path):
    queue, client = _app(scored, tiny_model, tmp_path / "d.sqlite")
    first = queue.current()
    post = lambda **f: client.post("/decide", data={"t": "TOKEN", **f})  # noqa: E731
    assert post(action="yes", item=first.key).status_code == 303
    assert queue.current() != first
    second = queue.current()
    assert post(action="no", item=second.key, category="bogus").status_code == 400
    assert post(action="no", item=second.key, category="proof_of_life").status_code == 303
    third = queue.current()
    post(action="skip", item=third.key)
    assert queue.current() != third
    post(action="undo")  # undoes the skip
    assert queue.current() == third
    labelled = queue.decisions.decided("olena")
    assert labelled[first.key] == 1 and labelled[second.key] == 0
    member = next(i for i in queue.items if i.campaign == "c1" and i.key not in labelled)
    post(action="yes", item=member.key, scope="campaign")
    labelled = queue.decisions.decided("olena")
    assert all(labelled.get(i.key) is not None for i in queue.items if i.campaign == "c1")
    post(action="undo")  # one key press, one undo: the whole campaign's new rows go
    after = queue.decisions.decided("olena")
    assert [i.key for i in queue.items if i.campaign == "c1" and i.key in after] == [
        k for k in (first.key, second.key) if queue.get(k).campaign == "c1"
    ]


def test_undo_only_touches_the_queue_on_screen(scored, tiny_model, tmp_path):
    db = tmp_path / "d.sqlite"
    hostile = tmp_path / "hostile.csv"
    pd.DataFrame({"score": [0.9, 0.8], "flagged": ["true", "true"], "text": OTHERS[:2]}).to_csv(
        hostile, index=False
    )
    here = ReviewQueue(load_items(scored, tiny_model), Decisions(db), "olena")
    there = ReviewQueue(load_items(hostile, tiny_model), Decisions(db), "olena")
    mine = here.current()
    here.decide(mine, 1)
    other = there.current()
    there.decide(other, 0, "everyday")  # the annotator's latest decision, in another file
    assert here.undo() == 1  # undo on scored.csv undoes scored.csv's decision
    decided = here.decisions.decided("olena")
    assert mine.key not in decided and decided[other.key] == 0
    assert here.undo() == 0  # nothing of this queue's left; hostile.csv's decision stays
    assert here.decisions.decided("olena") == {other.key: 0}


def test_undo_after_labelling_a_skipped_item_restores_the_skip(scored, tiny_model, tmp_path):
    queue, _ = _app(scored, tiny_model, tmp_path / "d.sqlite")
    first, second = queue.items[0], queue.items[1]
    queue.decide(first, None)
    queue.decide(second, None)
    queue.decide(first, 1)  # the skipped item labelled: its skip is replaced
    assert queue.decisions.decided("olena")[first.key] == 1
    assert queue.undo() == 1
    assert queue.decisions.decided("olena") == {first.key: None, second.key: None}
    assert queue.decisions.skipped("olena") == [first.key, second.key]  # in its place among the skips
    assert queue.undo() == 1 and queue.undo() == 1  # then the skips themselves
    assert queue.decisions.decided("olena") == {} and queue.undo() == 0


def test_skipped_items_come_back_last_and_other_annotators_are_apart(scored, tiny_model, tmp_path):
    db = tmp_path / "d.sqlite"
    queue, _ = _app(scored, tiny_model, db)
    first = queue.current()
    queue.decide(first, None)
    for _ in range(len(queue.items) - 1):
        queue.decide(queue.current(), 0, "everyday")
    assert queue.current() == first  # only the skipped one is left
    other = ReviewQueue(queue.items, Decisions(db), "taras")
    assert other.current() == queue.items[0] and other.progress() == (0, len(queue.items))


def test_stats_kappa_matches_sklearn(tmp_path, scored, tiny_model, workspace):
    db = workspace / "review" / "decisions.sqlite"
    items = load_items(scored, tiny_model)
    a, b = ReviewQueue(items, Decisions(db), "olena"), ReviewQueue(items, Decisions(db), "taras")
    ya = [1, 1, 0, 0, 1, 0, 1, 0]
    yb = [1, 0, 0, 0, 1, 1, 1, 0]
    for item, la, lb in zip(items, ya, yb, strict=False):
        a.decide(item, la, "everyday")
        b.decide(item, lb, "everyday")
    b.decide(items[len(ya)], None)  # a skip is counted, not compared
    counts, pairs = agreement(a.decisions.all())
    assert [(c.annotator, c.pattern, c.not_pattern, c.skipped) for c in counts] == [
        ("olena", 4, 4, 0),
        ("taras", 4, 4, 1),
    ]
    assert pairs[0][:3] == ("olena", "taras", 8)
    assert pairs[0][3] == pytest.approx(cohen_kappa_score(ya, yb))
    run = _cli(workspace, "review", "--stats")
    assert run.exit_code == 0, run.output
    assert run.stdout == format_agreement(a.decisions.all()) + "\n"
    assert f"olena / taras{'':<17}{8:>14}{cohen_kappa_score(ya, yb):>8.3f}" in run.stdout


def _store_rows(workspace):
    frame, problems = read_labelled(store_files([workspace / "datasets" / "labelled"]))
    assert problems == []
    return frame[frame["file"].str.contains("added_")]


def test_export_goes_through_labels_add_with_provenance_once(scored, tiny_model, workspace):
    db = workspace / "review" / "decisions.sqlite"
    items = load_items(scored, tiny_model)
    queue = ReviewQueue(items, Decisions(db), "olena")
    held = next(i for i in items if i.text == HELDOUT_TEXT)
    queue.decide(held, 1)
    chosen = [i for i in items if i is not held][:3]
    queue.decide(chosen[0], 1)
    queue.decide(chosen[1], 0, "report_about_pattern")
    queue.decide(chosen[2], None)  # skipped: not exported
    before = {p.name: p.read_bytes() for p in (workspace / "datasets" / "labelled").iterdir()}
    run = _cli(workspace, "review", "--export")
    assert run.exit_code == 0, run.output
    assert "3 rows read: 2 added" in run.stdout and "1 held-out text refused" in run.stdout
    assert "refused 1 row whose text is in the held-out set" in run.stdout
    rows = _store_rows(workspace)
    assert sorted(rows["text"]) == sorted([chosen[0].text, chosen[1].text])
    row = rows[rows["text"] == chosen[1].text].iloc[0]
    assert row["label"] == "0" and row["category"] == "report_about_pattern"
    assert row["annotator"] == "olena" and row["writer"] == "olena"
    assert row["source"] == f"review:scored.csv (from {chosen[1].source} row {chosen[1].row})"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", row["added"])
    for name, data in before.items():  # nothing the user made is touched
        assert (workspace / "datasets" / "labelled" / name).read_bytes() == data
    again = _cli(workspace, "review", "--export")
    assert again.exit_code == 0, again.output
    assert "0 added, 2 exact duplicates skipped" in again.stdout
    assert len(_store_rows(workspace)) == 2


def test_export_campaign_groups_keep_distinct_ids_apart(workspace, tmp_path):
    from types import SimpleNamespace

    from classifier.review import export_decisions

    db = Decisions(workspace / "review" / "decisions.sqlite")
    ids = ["к1", "1", "C1", "c1", "x" * 41, "x" * 40]
    for n, cid in enumerate(ids):
        text = f"{OTHERS[n]} ({n})"
        item = SimpleNamespace(key=item_key(text, "m.txt", n), scored_file="scored.csv", source="m.txt",
                               row=str(n), campaign=cid, text=text)  # fmt: skip
        db.record("olena", [item], 0, "everyday")
    export_decisions(db, store=workspace / "datasets" / "labelled", exports_dir=tmp_path / "exports")
    groups = list(_store_rows(workspace)["group"])
    assert len(groups) == len(ids) and len(set(groups)) == len(ids), groups
    assert all(g.startswith("review-") and len(g) <= 80 for g in groups)


def test_an_export_that_adds_nothing_leaves_no_file(scored, tiny_model, workspace):
    items = [i for i in load_items(scored, tiny_model) if i.text != HELDOUT_TEXT]
    ReviewQueue(items, Decisions(workspace / "review" / "decisions.sqlite"), "olena").decide(items[0], 1)
    exports = workspace / "review" / "exports"
    assert "1 added" in _cli(workspace, "review", "--export").stdout
    assert len(list(exports.iterdir())) == 1  # the record of what was added
    again = _cli(workspace, "review", "--export")
    assert again.exit_code == 0 and "0 added, 1 exact duplicate skipped" in again.stdout, again.output
    assert len(list(exports.iterdir())) == 1


def test_export_reports_conflicts_between_annotators(scored, tiny_model, workspace):
    db = workspace / "review" / "decisions.sqlite"
    items = load_items(scored, tiny_model)
    ReviewQueue(items, Decisions(db), "olena").decide(items[5], 1)
    ReviewQueue(items, Decisions(db), "taras").decide(items[5], 0, "everyday")
    run = _cli(workspace, "review", "--export")
    assert run.exit_code == 1 and "1 conflict(s) inside the new file(s), nothing was added" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    ok = _cli(workspace, "review", "--export", "--resolve", "newest")
    assert ok.exit_code == 0 and "1 added" in ok.stdout and "conflict inside the new file(s)" in ok.stdout


def test_review_needs_a_workspace(tmp_path, scored, tiny_model, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COERCION_CLASSIFIER_HOME", raising=False)
    run = CliRunner().invoke(cli, ["review", str(scored), *model_opts(tiny_model)])
    assert run.exit_code != 0 and "review writes into a workspace" in run.stderr


def test_item_key_is_text_and_place():
    assert item_key("Мамо", "a.csv", 1) != item_key("Мамо", "a.csv", 2)
    assert item_key("Мамо", "a.csv", 1) == item_key(" мамо ", "a.csv", "1")


# --- a real server, killed ---------------------------------------------------------------------


def start_server(workspace, scored, model, annotator="olena", extra=()):
    """``review`` as a real process; its URL once it listens."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "classifier", "--home", str(workspace), "review", str(scored),
         "--annotator", annotator, *model_opts(model), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=str(workspace),
    )  # fmt: skip
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        found = re.search(r"open (http://127\.0\.0\.1:\d+/\?t=\S+)", line)
        if found:
            return proc, found.group(1)
        assert time.monotonic() < deadline
    proc.kill()
    raise AssertionError(f"review did not start: {proc.stderr.read()}")


def _post(url, **fields):
    base, token = url.split("/?t=")
    data = urllib.parse.urlencode({"t": token, **fields}).encode()
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        return opener.open(base + "/decide", data=data, timeout=10).status
    except urllib.error.HTTPError as exc:
        return exc.code


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None


def test_sigkill_loses_no_decision_and_the_queue_resumes(scored, tiny_model, workspace):
    items = load_items(scored, tiny_model)
    proc, url = start_server(workspace, scored, tiny_model)
    try:
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(url.split("?")[0], timeout=10)
        assert denied.value.code == 403
        wrong_host = urllib.request.Request(url, headers={"Host": "evil.example:80"})
        with pytest.raises(urllib.error.HTTPError) as rebound:
            urllib.request.urlopen(wrong_host, timeout=10)
        assert rebound.value.code == 403
        for item in items[:5]:
            assert (
                _post(url, action="yes" if item.score > 0.5 else "no", item=item.key, category="everyday")
                == 303
            )
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    with Decisions(workspace / "review" / "decisions.sqlite") as db:
        assert set(db.decided("olena")) == {i.key for i in items[:5]}
    proc, url = start_server(workspace, scored, tiny_model)
    try:
        page = urllib.request.urlopen(url, timeout=10).read().decode()
        assert f"5 of {len(items)}</span>" in page
        assert json.dumps(items[5].key)[1:-1] in page  # the next undecided item is shown
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)


def test_category_keys_are_distinct_and_not_command_keys():
    keys = list(CATEGORY_KEYS.values())
    assert len(set(keys)) == len(keys) and not set(keys) & set("ynsue?YN")


# --- --redact in review and score --report, and bad input ----------------------------------------


def test_review_redact_shows_and_exports_masked_text(scored, tiny_model, workspace):
    items = load_items(scored, tiny_model, redact=True)
    phone = next(i for i in items if "+380" in i.text)
    assert phone.shown == redact(phone.text) and "[phone]" in phone.shown and "[handle]" in phone.shown
    queue = ReviewQueue(items, Decisions(workspace / "review" / "decisions.sqlite"), "olena")
    while queue.current() is not phone:
        queue.decide(queue.current(), None)
    page = create_app(queue, "T").test_client().get("/?t=T").get_data(as_text=True)
    assert "[phone]" in page and "123 45 67" not in page and "vanya_ua" not in page
    queue.decide(phone, 1)
    run = _cli(workspace, "review", "--export", "--redact")
    assert run.exit_code == 0 and "1 added" in run.stdout, run.output
    assert list(_store_rows(workspace)["text"]) == [redact(phone.text)]


def test_export_redact_refuses_a_held_out_text_that_held_a_phone(scored, tiny_model, workspace):
    held = dict(tiny_rows()[0], text=OTHERS[2], group="h2", writer="held")  # holds a phone and a handle
    write_store(workspace / "datasets" / "heldout" / "held2.csv", [held])
    items = load_items(scored, tiny_model, redact=True)
    phone = next(i for i in items if i.text == OTHERS[2])
    queue = ReviewQueue(items, Decisions(workspace / "review" / "decisions.sqlite"), "olena")
    queue.decide(phone, 1)
    queue.decide(next(i for i in items if i.text == OTHERS[3]), 0, "proof_of_life")
    run = _cli(workspace, "review", "--export", "--redact")
    assert run.exit_code == 0, run.output
    assert "2 rows read: 1 added" in run.stdout and "1 held-out text refused" in run.stdout
    assert "refused 1 row whose text is in the held-out set" in run.stdout
    assert list(_store_rows(workspace)["text"]) == [OTHERS[3]]


def test_score_report_redact_masks_the_top_messages(tiny_model, tmp_path):
    messages = tmp_path / "m.txt"
    messages.write_text(OTHERS[2] + "\n", encoding="utf-8")
    run = CliRunner().invoke(
        cli,
        ["score", str(messages), *model_opts(tiny_model), "-o", str(tmp_path / "o.csv"), "--threshold", "0",
         "--redact", "--report", str(tmp_path / "rep"), "-j", "1"],
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    page = (tmp_path / "rep" / "report.html").read_text(encoding="utf-8")
    assert "[phone]" in page and "123 45 67" not in page


def test_score_redact_is_refused_with_dask(tmp_path, tiny_model):
    messages = tmp_path / "m.txt"
    messages.write_text("x\n", encoding="utf-8")
    run = CliRunner().invoke(
        cli, ["score", str(messages), "--engine", "dask", "-o", str(tmp_path / "out"), "--redact"]
    )
    assert run.exit_code == 2 and "--redact is not supported with --engine dask" in run.stderr


def _zip_without_workbook():
    """A valid zip that is no workbook (openpyxl raises KeyError or InvalidFileException)."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("hello.txt", "hi")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("x.txt", "hello\n", "review reads what score writes"),
        ("x.csv", "text,label\nhi,1\n", "no score and no flagged column"),
        ("x.csv", "score,flagged,text\n,,\n", "no scored message with a text to review"),
        (
            "x.jsonl",
            '{"score": 0.5, "flagged": true, "text": "hi"}\n{not json\n',
            "cannot read it as a scored file",
        ),
        ("bad.xlsx", "not a zip at all\n", "cannot read it as a scored file"),
        ("cut.xlsx", b"PK\x03\x04\x14\x00\x00\x00\x08\x00truncated", "cannot read it as a scored file"),
        ("empty.xlsx", _zip_without_workbook, "cannot read it as a scored file"),
    ],
)
def test_bad_scored_files_are_one_line_errors(workspace, tmp_path, tiny_model, name, content, message):
    path = tmp_path / name
    if callable(content):
        content = content()
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    run = _cli(workspace, "review", path, *model_opts(tiny_model))
    assert run.exit_code == 2 and message in run.stderr, run.output
    assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.output


def test_jsonl_scored_file_is_read(tmp_path, tiny_model):
    path = tmp_path / "s.jsonl"
    rows = [{"source": "a", "row": 1, "score": 0.2, "flagged": False, "text": "hi"},
            {"source": "a", "row": 2, "score": 0.9, "flagged": True, "text": "yo", "campaign": "k"}]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert [(i.text, i.row) for i in load_items(path, tiny_model)] == [("yo", "2"), ("hi", "1")]


def test_stats_without_decisions_and_review_without_a_file(workspace):
    assert _cli(workspace, "review", "--stats").stdout == "no review decisions yet\n"
    assert not (workspace / "review").exists()  # --stats creates nothing
    run = _cli(workspace, "review")
    assert run.exit_code == 2 and "review needs SCORED" in run.stderr


@pytest.mark.parametrize(
    "error", [OSError("No username set in the environment"), KeyError("getpwuid(): uid not found: 1234")]
)
def test_no_login_name_asks_for_annotator(scored, tiny_model, workspace, monkeypatch, error):
    import getpass

    def no_user():
        raise error

    monkeypatch.setattr(getpass, "getuser", no_user)
    run = _cli(workspace, "review", scored, *model_opts(tiny_model))
    assert run.exit_code == 2 and "Traceback" not in run.output, run.output
    assert run.stderr.strip().splitlines() == [
        "Error: cannot tell who is labelling (no login name for this user); pass --annotator NAME"
    ]


def test_a_taken_port_is_a_one_line_error(scored, tiny_model, workspace):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = _cli(workspace, "review", scored, *model_opts(tiny_model), "--port", port)
    assert run.exit_code == 2
    assert run.stderr.strip().splitlines()[-1] == (
        f"Error: cannot listen on 127.0.0.1:{port} (Address already in use); pass another --port, or none for a free one"
    )
