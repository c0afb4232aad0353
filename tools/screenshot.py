"""Take the README's picture of the inspector (docs/inspector.png) from a real run: ``make screenshot``.

Starts a real Alertmanager and the real ``serve``, posts a callback of each vendor, a recovery and a refused
one, waits until Alertmanager has the alerts, and has the same headless Chromium as the browser tests save
the page. Run from the repository root: ``.venv/bin/python -m tools.screenshot [OUTPUT] [PAGE]``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import requests
from selenium.webdriver.common.by import By

from tests.harness import payloads
from tests.harness.alertmanager import Alertmanager
from tests.harness.bridge_process import Bridge
from tests.harness.browser import start_chromium
from tests.harness.processes import wait_for

WIDTH = 1280
MAX_HEIGHT = 1500


def post_examples(bridge: Bridge) -> None:
    """What a first hour looks like: each cloud's test alarm, one recovery, and one console misconfigured."""
    bridge.post("kingsoft", payloads.kingsoft("web-01"))
    bridge.post("tencent", payloads.tencent("ins-7tz3k1p0", first=payloads.shanghai_now(-600)))
    bridge.post("aliyun", payloads.aliyun("i-bp1g6zv0ce8oghu7k0a1"), "application/x-www-form-urlencoded")
    bridge.post("kingsoft", payloads.kingsoft("web-02", state=0))
    bridge.post("tencent", json.dumps({"alarmType": "metric", "note": "a test message from the console"}))


def main(output: Path, page: str = "/") -> None:
    with tempfile.TemporaryDirectory(prefix="inspector-shot-") as tmp:
        workdir = Path(tmp)
        (workdir / "am").mkdir()
        am = Alertmanager(workdir / "am").start()
        bridge = Bridge(workdir, [am.url]).start()
        browser = start_chromium(workdir / "chromium", width=WIDTH, height=900)
        try:
            post_examples(bridge)
            am.wait_for(lambda alerts: len(alerts) >= 3, 15)
            wait_for(lambda: len(requests.get(bridge.url + "/api/v1/callbacks", timeout=5).json()["callbacks"]) == 5,
                     10, message="the refused callback recorded too")  # by a background writer
            browser.get(bridge.url + page)
            for summary in browser.find_elements(By.CSS_SELECTOR, "tr:first-child details summary")[:1]:
                summary.click()  # show one body as received
            height = min(MAX_HEIGHT, browser.execute_script("return document.documentElement.scrollHeight"))
            browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",  # the whole page, no scroll bar
                                    {"width": WIDTH, "height": height, "deviceScaleFactor": 1, "mobile": False})
            wait_for(lambda: browser.execute_script("return document.readyState") == "complete", 5)
            output.parent.mkdir(parents=True, exist_ok=True)
            browser.save_screenshot(str(output))
        finally:
            browser.quit()
            bridge.stop()
            am.stop()
    print(f"wrote {output}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/inspector.png"), *sys.argv[2:3])
