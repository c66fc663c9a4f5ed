"""The review page in real headless Chromium, driven by the keyboard only, through a SIGKILL.

Marked ``browser`` (left out by default; ``pytest -m browser``), like the reports'
browser tests, and never skipped: without Chromium or Playwright it fails and says
what to install. ``REVIEW_SCREENSHOT=docs/review.png`` also saves the first page.
"""

import os
import signal
import urllib.error
import urllib.request

import pytest

from classifier.decisions import Decisions
from classifier.labels import read_labelled, store_files
from classifier.review import load_items

from .test_report_browser import ARGS, CHROMIUM
from .test_review import OTHERS, scored, start_server, workspace  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chromium():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium (or set CHROMIUM=/path)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is missing: pip install '.[test]'")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def _open(chromium, url, status=200):
    page = chromium.new_page(viewport={"width": 1000, "height": 700})
    problems, outside = [], []
    origin = url.split("/?")[0]
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(origin) else None)
    response = page.goto(url)
    assert response is not None and response.status == status
    return page, problems, outside


def _press(page, key):
    with page.expect_navigation():
        page.keyboard.press(key)


def _kill(proc):
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL


def test_review_by_keyboard_through_a_sigkill_then_export(chromium, scored, tiny_model, workspace):  # noqa: F811
    items = load_items(scored, tiny_model)
    hostile = {OTHERS[0], OTHERS[1]}
    proc, url = start_server(workspace, scored, tiny_model)
    try:
        with pytest.raises(urllib.error.HTTPError) as denied:  # without the token
            urllib.request.urlopen(url.split("?")[0], timeout=10)
        assert denied.value.code == 403
        page, problems, outside = _open(chromium, url.split("?")[0] + "?t=wrong", 403)
        assert "403 Forbidden" in page.inner_text("body")
        page.close()

        page, problems, outside = _open(chromium, url)
        if os.environ.get("REVIEW_SCREENSHOT"):
            page.screenshot(path=os.environ["REVIEW_SCREENSHOT"])
        page.keyboard.press("?")
        assert page.is_visible("#help")
        page.keyboard.press("Escape")
        assert not page.is_visible("#help")

        presses, campaign_done, seen_hostile = 0, False, set()
        while page.locator("#item").count():
            text = page.inner_text("#text")
            if text in hostile:  # shown as text, and nothing of it ran on this page
                seen_hostile.add(text)
                assert page.locator("#text script, #text img").count() == 0
                assert page.evaluate("window.pwned === undefined")
            if int(page.inner_text("#campaign-size")) > 1 and not campaign_done:
                _press(page, "Shift+Y")  # the whole campaign, one key
                campaign_done = True
            elif presses % 3 == 1:
                page.keyboard.press("n")
                assert page.is_visible("#categories")
                _press(page, "1")  # proof_of_life
            elif presses == 2:
                _press(page, "s")  # skipped: comes back after the rest
            else:
                _press(page, "y")
            presses += 1
            assert presses < 40
        assert presses >= 10 and campaign_done and seen_hostile == hostile
        assert f"{len(items)} of {len(items)}" in page.inner_text("#progress")
        _press(page, "u")
        assert f"{len(items) - 1} of {len(items)}" in page.inner_text("#progress")
        undone = page.inner_text("#text")
        page.keyboard.press("n")
        _press(page, "2")  # captive_practical
        assert page.locator("#done").count() == 1
        assert problems == [] and outside == []
        page.close()
    finally:
        _kill(proc)

    with Decisions(workspace / "review" / "decisions.sqlite") as db:
        kept = {d.item: (d.label, d.category) for d in db.all("olena")}
    assert len(kept) == len(items) and all(label is not None for label, _ in kept.values())
    assert {kept[i.key] for i in items if i.campaign == "c1"} == {(1, "coerced_appeal")}
    assert kept[next(i.key for i in items if i.text == undone)] == (0, "captive_practical")

    proc, url = start_server(workspace, scored, tiny_model)  # the queue resumes: nothing is lost
    try:
        page, problems, outside = _open(chromium, url)
        assert f"{len(items)} of {len(items)}" in page.inner_text("#progress")
        assert page.locator("#done").count() == 1
        _press(page, "e")
        notice = page.inner_text("body")
        assert f"review:scored.csv: {len(items)} rows read: " in notice, notice
        assert problems == [] and outside == []
        page.close()
    finally:
        _kill(proc)
    frame, problems = read_labelled(store_files([workspace / "datasets" / "labelled"]))
    assert problems == []
    added = frame[frame["file"].str.contains("added_")]
    assert len(added) == len(items) - 1  # the held-out text is refused
    assert set(added["annotator"]) == {"olena"} and all(added["source"].str.startswith("review:scored.csv"))
    assert set(added[added["text"] == undone]["category"]) == {"captive_practical"}


def test_caps_lock_y_labels_one_message_not_the_campaign(chromium, scored, tiny_model, workspace):  # noqa: F811
    items = load_items(scored, tiny_model)
    member = next(i for i in items if i.campaign == "c1")
    with Decisions(workspace / "review" / "decisions.sqlite") as db:  # skip until a campaign message is shown
        for item in items[: items.index(member)]:
            db.record("olena", [item], None)
    proc, url = start_server(workspace, scored, tiny_model)
    try:
        page, problems, outside = _open(chromium, url)
        assert int(page.inner_text("#campaign-size")) > 1
        assert "Shift" in page.inner_html("#help") and "Shift+Y" in page.inner_text("#decide")
        with page.expect_navigation():  # Caps Lock on: "Y" arrives without Shift
            page.evaluate("document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Y', shiftKey: false}))")
        assert problems == [] and outside == []
        page.close()
    finally:
        _kill(proc)
    with Decisions(workspace / "review" / "decisions.sqlite") as db:
        labelled = {d.item for d in db.all("olena") if d.label is not None}
    assert labelled == {member.key}  # one message, not its campaign
