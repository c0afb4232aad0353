"""The inspector page at GET /, as a person sees it in a real headless Chromium, on the real ``serve``.

One Alertmanager and one bridge for the module; the bridge listens on every address with no admin token,
so this machine's loopback address is let in and its other address is not. One browser for the whole run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from bridge.vendors import VENDORS
from tests.harness import payloads, smn, sns
from tests.harness.alertmanager import Alertmanager
from tests.harness.bridge_process import Bridge
from tests.harness.fixtures import fixture_bytes
from tests.harness.processes import free_port, non_loopback_address, wait_for
from tests.harness.signing import SigningServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
SAMPLES = {  # vendor: (body, content type, the alert's name, a label value only this callback has)
    "kingsoft": (payloads.kingsoft("page-ks-1"), "application/json", "cpu.util", "page-ks-1"),
    "tencent": (payloads.tencent("ins-page-1"), "application/json", "cpu_usage", "ins-page-1"),
    "aliyun": (payloads.aliyun("i-page-1"), "application/x-www-form-urlencoded", "CPUUtilization", "i-page-1"),
    "azure": (fixture_bytes("azure", "metric-static-fired.json"), "application/json", "Percentage CPU", "wcus-r2-gen2"),
    "gcp": (fixture_bytes("gcp", "gce-cpu-open.json"), "application/json", "compute.googleapis.com/instance/cpu",
            "10988491472291860713"),
    "volcengine": (fixture_bytes("volcengine", "redis-node-000-metric.json"), "application/json", "MemUtil",
                   "server-redis-shzl****xosmn6xz-000-0-0"),
}
SIGNED = {  # vendor: (stored sample, its re-signing, the certificate's path, content type, alert name, marker)
    "aws": ("lambda-go-single-metric-alarm.json", sns.resign, "/page/SimpleNotificationService.pem",
            "text/plain; charset=UTF-8", "EXAMPLE", "TestInstance"),
    "huawei": ("default-rds-firing.json", smn.resign, smn.CERTIFICATE_PATH, "application/json", "rds039_disk_util",
               "9a22c728f48142f88339dc5bfa06d592no01"),
}
HOSTILE = 'x"><img src=x onerror="window.pwned=2"><script>window.pwned=1;document.title="pwned"</script>'


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory,
          signing_server: SigningServer) -> Iterator[tuple[Alertmanager, Bridge]]:
    workdir = tmp_path_factory.mktemp("inspector")
    (workdir / "am").mkdir()
    am = Alertmanager(workdir / "am").start()
    bridge = Bridge(workdir, [am.url], *(arg for vendor in SIGNED for arg in signing_server.bridge_args(vendor)),
                    host="0.0.0.0").start()
    yield am, bridge
    bridge.kill()  # nothing to check at its stop: do not wait for a graceful one
    am.stop()


def rows(browser: Chrome, css: str) -> list[WebElement]:
    return browser.find_elements(By.CSS_SELECTOR, css)


def row_of(browser: Chrome, css: str, text: str) -> WebElement:
    """The one table row matching ``css`` that shows ``text``."""
    found = [row for row in rows(browser, css) if text in row.text]
    assert len(found) == 1, f"{len(found)} rows of {css} show {text!r}: {[r.text for r in rows(browser, css)]}"
    return found[0]


def submit(browser: Chrome, control: WebElement) -> None:
    """Click ``control`` (or submit its form) and wait until the answer has replaced the page."""
    old = browser.find_element(By.TAG_NAME, "html")
    if control.tag_name == "input" and control.get_attribute("type") != "submit":
        control.submit()
    else:
        control.click()
    WebDriverWait(browser, 10).until(expected_conditions.staleness_of(old))


def test_each_vendors_callback_is_listed_with_its_alert_delivered_to_alertmanager(
        stack: tuple[Alertmanager, Bridge], browser: Chrome, signing_server: SigningServer) -> None:
    am, bridge = stack
    posted = dict(SAMPLES)
    for vendor, (name, resign, certificate_path, content_type, alertname, marker) in SIGNED.items():
        certificate_url = signing_server.serve_certificate(certificate_path)
        body = resign(fixture_bytes(vendor, name), signing_server.ca, certificate_url)
        posted[vendor] = (body, content_type, alertname, marker)
    assert set(posted) == set(VENDORS), "every vendor's callback is shown: add a sample for a new one"
    for vendor, (body, content_type, _, _) in posted.items():
        assert bridge.post(vendor, body, content_type).status_code == 200, vendor
    am.wait_for(lambda alerts: len([a for a in alerts if a["labels"].get("vendor") in posted]) == len(posted))

    browser.get(bridge.url + "/")
    assert browser.title == "Recent callbacks · cloud-alarm-bridge"
    for vendor, (_, _, alertname, marker) in posted.items():
        row = row_of(browser, "table.callbacks > tbody > tr", marker)
        cells = row.find_elements(By.XPATH, "./td")
        assert cells[1].text == vendor
        assert cells[2].text == "127.0.0.1"
        assert cells[3].text.startswith("accepted")
        alert = row.find_element(By.CSS_SELECTOR, "tr.alert")
        assert alertname in alert.text and "firing" in alert.text
        assert f'vendor="{vendor}"' in alert.text

    def delivered_everywhere() -> bool:
        browser.get(bridge.url + "/alerts")
        return all("delivered" in row_of(browser, "table.alerts > tbody > tr", marker).text
                   for _, _, _, marker in posted.values())
    wait_for(delivered_everywhere, 15, interval=0.3, message="the Alerts page to show every alert delivered")
    header = [th.text for th in rows(browser, "table.alerts > thead th")]
    assert len(header) == 5, f"one column per Alertmanager: {header}"

    # amtool's matcher syntax, through the filter form (a GET: no JavaScript involved)
    box = browser.find_element(By.NAME, "filter")
    box.clear()
    box.send_keys('vendor=~"kingsoft|tencent", alertname!="nothing"')
    submit(browser, box)
    shown = " ".join(r.text for r in rows(browser, "table.alerts > tbody > tr"))
    assert "page-ks-1" in shown and "ins-page-1" in shown and "i-page-1" not in shown


def test_a_refused_callback_is_listed_with_its_error(stack: tuple[Alertmanager, Bridge], browser: Chrome) -> None:
    _, bridge = stack
    refused = bridge.post("tencent", json.dumps({"page-test": "not an alarm"}))
    assert refused.status_code == 400
    error = refused.json()["error"]
    # a refusal is recorded by the worker's background writer, shortly after the answer
    wait_for(lambda: any(c["error"] == error for c in requests.get(
        bridge.url + "/api/v1/callbacks", params={"outcome": "refused"}, timeout=5).json()["callbacks"]),
        10, message="the refused callback in the journal")

    browser.get(bridge.url + "/")
    Select(browser.find_element(By.NAME, "vendor")).select_by_value("tencent")
    Select(browser.find_element(By.NAME, "outcome")).select_by_value("refused")
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form.filter input[type=submit]"))
    assert "outcome=refused" in browser.current_url
    row = row_of(browser, "table.callbacks > tbody > tr", error)
    assert "invalid" in row.text and "400" in row.text
    assert row.find_element(By.CSS_SELECTOR, ".error-text").text == error
    row.find_element(By.TAG_NAME, "summary").click()  # the body as received, folded until asked for
    assert '"page-test": "not an alarm"' in row.find_element(By.TAG_NAME, "pre").text
    assert not [r for r in rows(browser, "table.callbacks > tbody > tr") if "accepted" in r.text]


def test_an_attackers_payload_is_shown_as_text_and_runs_nothing(stack: tuple[Alertmanager, Bridge],
                                                                 browser: Chrome) -> None:
    _, bridge = stack
    assert bridge.post("tencent", payloads.tencent(HOSTILE, session="s-hostile")).status_code == 200
    for path in ("/", "/alerts"):
        browser.get(bridge.url + path)
        assert browser.execute_script("return window.pwned") is None
        assert "pwned" not in browser.title
        assert not browser.find_elements(By.TAG_NAME, "img"), "markup from the payload became an element"
        assert not browser.find_elements(By.TAG_NAME, "script")
        assert HOSTILE in browser.find_element(By.TAG_NAME, "main").text  # shown, character for character

    page = requests.get(bridge.url + "/", timeout=5)
    assert page.headers["Content-Security-Policy"] == CSP
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"


def test_the_try_form_shows_the_alerts_and_stores_and_sends_nothing(stack: tuple[Alertmanager, Bridge],
                                                                     browser: Chrome) -> None:
    am, bridge = stack
    browser.get(bridge.url + "/try")
    Select(browser.find_element(By.NAME, "vendor")).select_by_value("kingsoft")
    body = browser.find_element(By.NAME, "body")
    browser.execute_script("arguments[0].value = arguments[1]", body, payloads.kingsoft("tried-host").decode())
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form input[type=submit]"))

    result = row_of(browser, "tr.alert", "tried-host")
    assert "cpu.util" in result.text and "firing" in result.text
    assert "CPU utilization on tried-host" in result.text  # an annotation
    assert browser.find_element(By.NAME, "body").get_attribute("value").startswith('{"alarmState"')  # kept
    browser.get(bridge.url + "/")
    assert "tried-host" not in browser.find_element(By.TAG_NAME, "main").text
    assert not am.alerts(host="tried-host")

    # a payload the vendor would be refused for: the same message serve would answer
    browser.get(bridge.url + "/try")
    browser.find_element(By.NAME, "body").send_keys('{"nothing": 1}')
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form input[type=submit]"))
    assert "Refused:" in browser.find_element(By.CSS_SELECTOR, ".alert-box.error").text


def test_from_another_address_the_page_needs_the_admin_token(
        stack: tuple[Alertmanager, Bridge], browser: Chrome, tmp_path: Path) -> None:
    am, open_bridge = stack
    address = non_loopback_address()
    # no admin token configured: loopback only; this machine's other address is refused
    refused = requests.get(f"http://{address}:{open_bridge.port}/", timeout=5)
    assert refused.status_code == 403 and "loopback" in refused.text and "page-ks-1" not in refused.text

    admin, callback_token = "admin-Secret-1", "callback-Secret-2"
    bridge = Bridge(tmp_path, [am.url], f"--admin-token={admin}", f"--token={callback_token}", "--workers=1",
                    host=address, port=free_port()).start()
    try:
        assert bridge.post("kingsoft", payloads.kingsoft("behind-token"), params={"token": callback_token}).ok
        for headers in ({}, {"Authorization": f"Bearer {callback_token}"}, {"Authorization": "Bearer wrong"}):
            denied = requests.get(bridge.url + "/", headers=headers, timeout=5)
            assert denied.status_code == 401 and "behind-token" not in denied.text
        assert "behind-token" in requests.get(bridge.url + "/", headers={"Authorization": f"Bearer {admin}"},
                                              timeout=5).text
        # never from the URL, where history, bookmarks and proxies keep it
        assert requests.get(bridge.url + "/", params={"token": admin}, timeout=5).status_code == 401

        browser.get(bridge.url + "/")
        assert browser.title == "Sign in · cloud-alarm-bridge"
        assert "behind-token" not in browser.page_source
        sign_in(browser, "not-it")
        assert "wrong admin token" in browser.find_element(By.CSS_SELECTOR, ".alert-box.error").text
        sign_in(browser, admin)
        assert browser.title == "Recent callbacks · cloud-alarm-bridge"
        assert browser.current_url == bridge.url + "/"
        row_of(browser, "table.callbacks > tbody > tr", "behind-token")
        browser.get(bridge.url + "/status")  # the configuration in force, its secrets redacted
        assert admin not in browser.page_source and callback_token not in browser.page_source
        assert "<redacted>" in browser.find_element(By.CSS_SELECTOR, "pre.config").text
        assert row_of(browser, "table.targets > tbody > tr", am.url).find_element(By.CSS_SELECTOR, ".state").text
        cookie = browser.get_cookie("bridge_admin")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert browser.execute_script("return document.cookie") == ""  # no script can read it

        submit(browser, browser.find_element(By.CSS_SELECTOR, "nav button"))  # sign out
        assert browser.title == "Sign in · cloud-alarm-bridge"
        leaked = [line for line in bridge.log_text().splitlines() if admin in line]
        assert not leaked, leaked  # neither the form nor the cookie reaches the logs
    finally:
        bridge.kill()  # a throwaway: no need to wait for a graceful stop


def sign_in(browser: Chrome, token: str) -> None:
    field = browser.find_element(By.NAME, "token")
    field.clear()
    field.send_keys(token)
    submit(browser, field)
