"""Playwright driving Debian's Chromium (never Playwright's own browser download), axe-core
for accessibility, and screenshots of every page at desktop and phone widths."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[4] / "tests" / "artifacts" / "web"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
BLOCKING_IMPACTS = ("serious", "critical")


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """Stop with a message naming what is missing, never skip (TEAM rules)."""
    if not CHROMIUM.is_file() and not shutil.which("chromium"):
        pytest.fail(
            "the browser tests need Debian's Chromium at /usr/bin/chromium: "
            "apt-get install chromium (Playwright's own browser download does not work here)",
            pytrace=False,
        )
    return CHROMIUM if CHROMIUM.is_file() else Path(str(shutil.which("chromium")))


@pytest.fixture(scope="module")
def browser(chromium_path: Path) -> Iterator[Any]:
    """Module-scoped on purpose: while Playwright's sync API is running it holds an asyncio
    loop on this thread, and any asyncio test after it (other suites) would fail."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # launch() gives every run a fresh temporary user-data dir of its own.
        chromium = playwright.chromium.launch(
            executable_path=str(chromium_path), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def shots() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


class Visitor:
    """One person in one browser context: their page, console errors, checks and shots."""

    def __init__(self, browser: Any, base_url: str, shots: Path) -> None:
        self.context = browser.new_context(base_url=base_url, viewport=DESKTOP)
        self.context.set_default_timeout(20_000)
        self.page = self.context.new_page()
        self.shots = shots
        self.csp_errors: list[str] = []
        self.page.on("console", self._on_console)

    def _on_console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.csp_errors.append(message.text)

    def cookie(self, name: str) -> str | None:
        found = [c["value"] for c in self.context.cookies() if c["name"] == name]
        return found[0] if found else None

    def check_page(self, name: str) -> None:
        """axe-core on the page as it is, then screenshots at both widths."""
        assert_accessible(self.page, name)
        self.screenshot(name)

    def screenshot(self, name: str) -> None:
        page = self.page
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            page.screenshot(path=str(self.shots / f"{name}-{label}.png"), full_page=True)
        page.set_viewport_size(DESKTOP)

    def close(self) -> None:
        assert not self.csp_errors, self.csp_errors
        self.context.close()


@pytest.fixture
def visitors(browser: Any, platform: Any, shots: Path) -> Iterator[Any]:
    opened: list[Visitor] = []

    def open_visitor() -> Visitor:
        visitor = Visitor(browser, platform.gateway, shots)
        opened.append(visitor)
        return visitor

    yield open_visitor
    for visitor in opened:
        visitor.close()


def _axe_source() -> str:
    # axe-core 4.12 (MPL-2.0) as shipped, unmodified, inside the axe-playwright-python wheel
    # pinned in requirements.lock: no npm at test time, nothing vendored here.
    import axe_playwright_python

    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()


_AXE: list[str] = []


def assert_accessible(page: Any, name: str) -> None:
    if not _AXE:
        _AXE.append(_axe_source())
    page.evaluate(_AXE[0])  # through the DevTools protocol: the page's CSP does not apply
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    bad = [v for v in results["violations"] if v.get("impact") in BLOCKING_IMPACTS]
    summary = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
        for v in bad
    ]
    assert not bad, f"{name}: accessibility violations:\n" + "\n".join(summary)
