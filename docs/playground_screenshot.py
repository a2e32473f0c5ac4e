"""Regenerate docs/playground.png, the README's picture of the playground.

    pip install -e ".[test]"        # Playwright for Python; the browser is the system Chromium
    python docs/playground_screenshot.py [--out docs/playground.png] [--seconds 4]

It starts the playground server in this process, opens the page in headless Chromium,
trains the default spirals network for a few seconds, clicks a point and switches the
network diagram to the backward view, then saves a screenshot of the whole page.
"""

from __future__ import annotations

import argparse
import shutil
import threading
import time
from pathlib import Path

from psinet.playground import make_server


def chromium_path() -> str | None:
    """The system Chromium (Debian's ``chromium`` package), or None."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).with_name("playground.png")))
    parser.add_argument("--seconds", type=float, default=4.0, help="how long to press Play")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise SystemExit("no Chromium found: apt-get install chromium")
    server = make_server("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, name="playground-server")
    thread.start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(server.url)
            page.wait_for_selector("body[data-frames]")
            frames = page.locator("body").get_attribute("data-frames")
            page.get_by_label("Dataset").select_option("spirals")
            page.wait_for_selector(f"body:not([data-frames='{frames}'])")
            page.get_by_role("button", name="Play").click()
            time.sleep(args.seconds)
            page.get_by_role("button", name="Pause").click()
            page.wait_for_selector("body[data-playing=false][data-busy=false]")
            box = page.locator("#data-plot").bounding_box()
            assert box is not None
            page.mouse.click(box["x"] + box["width"] * 0.62, box["y"] + box["height"] * 0.35)
            page.wait_for_selector("[data-testid=sample-info][data-index]")
            page.get_by_label("Backward").check()
            page.wait_for_selector("[data-testid=psi-0-0]")
            page.screenshot(path=args.out, full_page=True)
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
