"""The HTML report in a real headless Chromium: incidents, tables and filters work, no
console error, and hostile text from logs and rules runs nothing and shows as text."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from html import unescape as html_unescape
from pathlib import Path

import pytest

from lotlhunt.model import Detection, HuntResult, HuntStats
from lotlhunt.reports.html import render_html, script_json, write_html
from report_fixtures import fake_result

XSS = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "</script><script>alert(3)</script>",
    "<svg onload=alert(4)>",
    "javascript:alert(5)",
    "<!--<script>alert(6)//-->",
    "\u2028\u2029<iframe src=//example.com>",
    "{{7*7}}${alert(8)}",
    "'-alert(9)-'",
    "<style>@import 'http://example.com/x.css'</style>",
    "<a href=http://example.com/>x</a>",
    "<link rel=stylesheet href=http://example.com/y.css>",
)


def open_report(chromium: object, path: Path) -> tuple[object, list[str], list[str], list[str]]:
    page = chromium.new_page()  # type: ignore[attr-defined]
    errors: list[str] = []
    dialogs: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("request", lambda r: requests.append(r.url) if not r.url.startswith("file:") else None)
    page.goto(path.as_uri())
    page.wait_for_selector("#det-body tr")
    return page, errors, dialogs, requests


def test_incidents_tables_and_filters_work(browser: object, tmp_path: Path) -> None:
    path = tmp_path / "r.html"
    write_html(fake_result(240), path)
    page, errors, dialogs, requests = open_report(browser, path)
    # Incidents come first, hosts in the order reached, with their pictures.
    first = page.locator(".incident").first
    assert first.locator("h3").inner_text().startswith("critical INC-0001")
    assert first.locator(".chain .host").all_inner_texts() == [
        "adssp01.harbor.local",
        "dc01.harbor.local",
        "fs02.harbor.local",
    ]
    assert first.locator("svg.graph .edge").count() == 2
    assert first.locator("svg.timeline circle").count() == 10
    # The detections table shows one page, not every row.
    assert page.locator("#det-body tr.det").count() == 100
    assert "1–100 of 240" in page.locator("#p-info").inner_text()
    page.click("#p-next")
    assert "101–200 of 240" in page.locator("#p-info").inner_text()
    # Filters: level, host, text, incident, technique.
    page.select_option("#f-level", label="critical")
    assert "of 48 detections" in page.locator("#p-info").inner_text()
    levels = set(page.locator("#det-body tr.det td:nth-child(3)").all_inner_texts())
    assert levels == {"critical"}
    page.click("#f-clear")
    page.select_option("#f-host", "ws03.harbor.local")
    hosts = set(page.locator("#det-body tr.det td:nth-child(2)").all_inner_texts())
    assert hosts == {"ws03.harbor.local"}
    page.click("#f-clear")
    page.fill("#f-text", "listenport=9007 ")
    assert page.locator("#det-body tr.det").count() == 1
    page.click("#f-clear")
    page.click(".show-incident[data-incident='INC-0001']")
    assert page.locator("#det-body tr.det").count() == 9
    assert set(page.locator("#det-body tr.det td:nth-child(6)").all_inner_texts()) == {"INC-0001"}
    page.click("#f-clear")
    page.click(".tech[data-technique='T1003.003']")
    assert "of 48 detections" in page.locator("#p-info").inner_text()
    page.click("#f-clear")
    # Sorting by host, both ways.
    page.click("th[data-key='host']")
    assert (
        page.locator("#det-body tr.det td:nth-child(2)").first.inner_text()
        == "adssp01.harbor.local"
    )
    page.click("th[data-key='host']")
    assert (
        page.locator("#det-body tr.det td:nth-child(2)").first.inner_text() == "ws03.harbor.local"
    )
    # A row opens its explanation: selections and field values.
    page.locator("#det-body tr.det").first.click()
    explain = page.locator("#det-body tr.explain").inner_text()
    assert "matched" in explain and "selection" in explain and "CommandLine" in explain
    # The ATT&CK matrix has tactic columns and technique cells.
    assert "Credential Access" in page.locator(".matrix").inner_text()
    assert page.locator("#inputs").inner_text().count("chunk 2 is damaged") == 1
    assert not errors and not dialogs and not requests


@pytest.mark.parametrize("payload", XSS)
def test_hostile_text_runs_nothing_and_shows_as_text(
    browser: object,
    tmp_path: Path,
    payload: str,
) -> None:
    path = tmp_path / "r.html"
    write_html(fake_result(12, hostile=payload), path)
    page, errors, dialogs, requests = open_report(browser, path)
    page.locator("#det-body tr.det").first.click()
    shown = page.locator("body").inner_text()
    visible = payload.replace("\u2028", "").replace("\u2029", "").strip()
    for place in ("#incidents", "#hosts", "#detections", "#inputs"):
        assert visible in page.locator(place).inner_text().replace("\u2028", "").replace(
            "\u2029", ""
        )
    assert visible in shown
    # Nothing parsed the payload into elements.
    assert page.locator("img, iframe, a[href^='http'], link, main script, main style").count() == 0
    assert not dialogs and not requests
    assert not [e for e in errors if "Content Security Policy" not in e], errors


def test_data_blob_cannot_close_its_script_element() -> None:
    text = script_json({"x": "</script><!--\u2028\u2029&"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert "\u2028" not in text and "\u2029" not in text
    assert json.loads(text) == {"x": "</script><!--\u2028\u2029&"}


def test_page_forbids_every_network_load() -> None:
    html = render_html(fake_result(4))
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert csp is not None
    policy = html_unescape(csp.group(1))
    assert "default-src 'none'" in policy and "unsafe-inline" not in policy
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/=]+'", policy)
    assert "http://" not in html.split("</head>")[0] and "https://" not in html


def test_text_that_is_not_unicode_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "r.html"
    write_html(fake_result(4, hostile="\ud800"), path)
    assert "ud800" in path.read_text(encoding="utf-8")


def big_result(n: int) -> HuntResult:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    dets = [
        Detection(
            rule_id=f"r{k % 40}",
            rule_title=f"Rule {k % 40}",
            level=("critical", "high", "medium", "low")[k % 4],
            tags=("attack.discovery", f"attack.t10{k % 90 + 10:02d}"),
            timestamp=t0 + timedelta(seconds=k),
            host=f"ws{k % 300:03d}.corp.local",
            channel="Security",
            event_id=4688,
            record_id=k,
            source=f"/logs/ws{k % 300:03d}/Security.evtx",
            position=k,
            fields={"CommandLine": f"cmd.exe /c whoami {k % 1000}"},
            matched=("selection",),
            details={
                "NewProcessName": "C:\\Windows\\System32\\cmd.exe",
                "SubjectUserName": f"u{k % 50}",
            },
        )
        for k in range(n)
    ]
    return HuntResult(stats=HuntStats(detections=n), detections=dets)


def test_hundred_thousand_detections_stay_small_and_fast(
    browser: object,
    tmp_path: Path,
) -> None:
    path = tmp_path / "big.html"
    started = time.perf_counter()
    write_html(big_result(100_000), path)
    written = time.perf_counter() - started
    size = path.stat().st_size
    assert size < 12_000_000, size
    page, errors, dialogs, requests = open_report(browser, path)
    assert page.locator("#det-body tr").count() == 100
    started = time.perf_counter()
    page.fill("#f-text", "whoami 999")
    assert "of 100 detections" in page.locator("#p-info").inner_text()
    filtered = time.perf_counter() - started
    assert filtered < 5, filtered
    assert not errors and not dialogs and not requests
    print(
        f"100k detections: {size / 1e6:.1f} MB written in {written:.1f} s; filter {filtered:.2f} s"
    )
