"""Both reports open in real headless Chromium: images load, no errors, hostile text stays text.

Marked ``browser``, so the default run leaves them out. Run them with
``apt-get install -y chromium && pytest -m browser``. They never skip: without
Chromium (or Playwright) they fail and say what to install.
"""

import contextlib
import functools
import http.server
import os
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from classifier.cli import cli

from .conftest import NEGATIVES, POSITIVES, model_opts, tiny_rows, write_store
from .test_report import HOSTILE

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium (or set CHROMIUM=/path)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is missing: pip install '.[test]'")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@contextlib.contextmanager
def _serve(folder):
    """Serve a folder on a free localhost port for the duration of the block."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/report.html"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _check_page(browser, folder, screenshot=None):
    page = browser.new_page()
    problems, outside = [], []
    page.on(
        "console", lambda msg: problems.append(f"{msg.text} {msg.location}") if msg.type == "error" else None
    )
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("requestfailed", lambda req: problems.append(f"failed: {req.url}"))
    page.on("response", lambda r: problems.append(f"{r.status}: {r.url}") if r.status >= 400 else None)
    with _serve(folder) as url:
        page.on(
            "request",
            lambda req: outside.append(req.url) if not req.url.startswith(url.rsplit("/", 1)[0]) else None,
        )
        response = page.goto(url, wait_until="load")
        assert response is not None and response.ok
        images = page.eval_on_selector_all(
            "img", "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.src])"
        )
        if screenshot:
            page.screenshot(path=str(screenshot), full_page=True)
        pwned = page.evaluate("window.pwned === undefined")
        scripts = page.locator("script").count()
        text = page.inner_text("body")
    page.close()
    assert images and all(complete and width > 0 for complete, width, _ in images), images
    assert problems == [], problems
    assert outside == [], outside  # nothing but the report's own folder is requested
    assert pwned and scripts == 0
    return text


@pytest.fixture(scope="module")
def reports(tiny_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    rows = tiny_rows()
    rows[0]["category"] = "<img src=x onerror=\"window.pwned='category'\">"
    data = write_store(root / "eval.csv", rows)
    messages = root / "m.txt"
    messages.write_text(
        "\n".join(HOSTILE + [t for _, t in POSITIVES] + [t for *_, t in NEGATIVES]) + "\n", encoding="utf-8"
    )
    model = model_opts(tiny_model)
    run = CliRunner().invoke(cli, ["evaluate", *model, "--data", str(data), "--report", str(root / "eval")])
    assert run.exit_code == 0, run.output
    # --no-campaigns: the top list shows every message, so both hostile texts are on the page
    # (with campaigns, the <img> one is a copy of a positive's script and the positive, the
    # higher score, represents their campaign)
    run = CliRunner().invoke(
        cli,
        ["score", str(messages), *model, "-o", str(root / "o.csv"), "--threshold", "0.01",
         "--report", str(root / "batch"), "--no-campaigns"],
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    return root


def test_evaluation_report_in_chromium(browser, reports):
    text = _check_page(browser, reports / "eval", os.environ.get("REPORT_SCREENSHOT_EVAL"))
    assert "Per language" in text and "Model card" in text
    assert "<img src=x onerror=" in text  # shown as text, not run


def test_batch_report_in_chromium(browser, reports):
    text = _check_page(browser, reports / "batch", os.environ.get("REPORT_SCREENSHOT_BATCH"))
    assert "Top" in text and "Per input" in text
    assert "<script>window.pwned=1</script>" in text and '<img src=x onerror="window.pwned=2">' in text
