"""Shared pytest configuration: Hypothesis profiles for a noisy 2-core CI machine, and a real
headless browser (Playwright driving Debian's Chromium) for the tests that render pages."""

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci",
    deadline=None,
    max_examples=60,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci" if os.environ.get("CI") else "default")


# ------------------------------------------------------------------------------------------------
# A real headless browser for the tests that render pages (feedback.html, ...)
# ------------------------------------------------------------------------------------------------

#: Debian's Chromium (Playwright's own browser download is not used). `make setup` installs it
#: when it is missing and make runs as root; NORMLAB_CHROMIUM points elsewhere.
CHROMIUM = Path(os.environ.get("NORMLAB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
#: The page size the browser tests measure at.
VIEWPORT = {"width": 1280, "height": 900}
_INSTALL = ("Install it with `make setup` run as root (it runs `apt-get update && apt-get "
            "install -y chromium` when /usr/bin/chromium is missing), or yourself: "
            "`sudo apt-get update && sudo apt-get install -y chromium` (Debian/Ubuntu), then "
            "`.venv/bin/pip install -r requirements-dev.txt` for Playwright; or set "
            "NORMLAB_CHROMIUM to a Chromium binary.")


@pytest.fixture(scope="session")
def browser():
    """Playwright's Chromium, headless, on Debian's binary. Never skipped: without a browser the
    test fails and says how to install one."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as exc:
        pytest.fail(f"the browser tests need the Python package playwright ({exc}). {_INSTALL}",
                    pytrace=False)
    if not CHROMIUM.is_file():
        pytest.fail(f"the browser tests need Chromium at {CHROMIUM}, which is missing. "
                    f"{_INSTALL}", pytrace=False)
    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                                  args=CHROMIUM_ARGS)
        except Error as exc:
            pytest.fail(f"Chromium at {CHROMIUM} did not start: {exc}. {_INSTALL}",
                        pytrace=False)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser):
    """A fresh page (own context: no cookies or cache shared) of VIEWPORT size."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(autouse=True, scope="session")
def _normlab_home(tmp_path_factory):
    """`release` records its course (autograder/authoring/course.py) under $NORMLAB_HOME: the tests
    keep
    that in a folder of their own, never in the user's ~/.config (subprocesses inherit it)."""
    old = os.environ.get("NORMLAB_HOME")
    os.environ["NORMLAB_HOME"] = str(tmp_path_factory.mktemp("normlab-home"))
    yield
    if old is None:
        os.environ.pop("NORMLAB_HOME", None)
    else:
        os.environ["NORMLAB_HOME"] = old
