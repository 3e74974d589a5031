"""The dashboard in a real browser: `agent-forge monitor` serves the home filled by the pipeline's
small phases (tests/dashboard/conftest.py), with a local Ray; headless Debian Chromium, driven by
Selenium through Debian's ChromeDriver, opens every page. Then Ctrl-C (SIGINT) stops both the
dashboard and Ray.

Without chromium/chromedriver the tests skip, unless AGENT_FORGE_REQUIRE_BROWSER is set (CI sets
it, and .ci/run installs both). Screenshots go to the test's temporary directory, and also to
$AGENT_FORGE_SCREENSHOTS when set (how docs/images/ was made)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from agent_forge.core.registry import ModelRegistry

pytestmark = [pytest.mark.slow, pytest.mark.ray]

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
PAGES = {  # url path -> the page's title
    "overview": "Pipeline Overview",
    "phase_details": "Phase Details",
    "model_browser": "Model Browser",
    "system_monitor": "System Monitor",
    "configuration": "Configuration",
}
EXCEPTION = '[data-testid="stException"]'
ERROR = '[data-testid="stAlertContentError"]'
LOAD_TIMEOUT_S = 90


def _need_browser() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        msg = f"{' and '.join(missing)} missing: apt-get install chromium chromium-driver"
        if os.environ.get("AGENT_FORGE_REQUIRE_BROWSER"):
            pytest.fail(msg)
        pytest.skip(msg)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _read_line(stream, timeout: float) -> str:
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return box[0] if box else ""


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _tree(pid: int) -> list[psutil.Process]:
    """The process and all its descendants (Ray's processes among them)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


@pytest.fixture(scope="module")
def served(dashboard_home, tmp_path_factory):
    """`agent-forge monitor --json` on the dashboard home: (info, process); stopped with SIGINT
    by `test_ctrl_c_stops_the_dashboard_and_ray` (or here, if that did not run)."""
    _need_browser()
    port = _free_port()
    log = tmp_path_factory.mktemp("monitor") / "monitor.err"
    env = os.environ | {"AGENT_FORGE_HOME": str(dashboard_home)}
    env.pop("RAY_ADDRESS", None)
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agent_forge.cli.main",
                "monitor",
                "--home",
                str(dashboard_home),
                "--port",
                str(port),
                "--json",
                "--set",
                "ray.num_cpus=1",
                "--set",
                f"ray.dashboard_port={_free_port()}",
            ],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=env,
            start_new_session=True,  # its group is ours to inspect and, at worst, to kill
        )
    line = _read_line(proc.stdout, 150)
    assert line, f"monitor printed nothing; exit {proc.poll()}:\n{log.read_text()[-3000:]}"
    info = json.loads(line)
    yield info, proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def browser(served):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
    ):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(LOAD_TIMEOUT_S)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


def _idle(driver) -> bool:
    """Streamlit has drawn the page and its script run is over (no 'Running' widget)."""
    return bool(
        driver.find_elements("css selector", '[data-testid="stMain"]')
        and not driver.find_elements("css selector", '[data-testid="stStatusWidget"] img')
        and not driver.find_elements("css selector", '[data-testid="stSkeleton"]')
    )


def _open(driver, url: str, title: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, LOAD_TIMEOUT_S).until(
        lambda d: any(title in h.text for h in d.find_elements("css selector", "h1")) and _idle(d)
    )
    time.sleep(1.0)  # late elements of the same run (plots) settle


def _shot(driver, shots: Path, name: str) -> Path:
    """A screenshot of the whole page (the window grows to the page's height, then shrinks)."""
    path = shots / f"{name}.png"
    height = driver.execute_script(
        "const m = document.querySelector('[data-testid=\"stMain\"]');"
        "return Math.max(m ? m.scrollHeight : 0, document.body.scrollHeight);"
    )
    driver.set_window_size(1400, min(max(int(height) + 40, 1000), 6000))
    time.sleep(1.0)  # plotly redraws at the new size
    driver.save_screenshot(str(path))
    driver.set_window_size(1400, 1000)
    assert path.stat().st_size > 1000
    if out := os.environ.get("AGENT_FORGE_SCREENSHOTS"):
        Path(out).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(out) / path.name)
    return path


def _exceptions(driver) -> list[str]:
    return [e.text[:500] for e in driver.find_elements("css selector", EXCEPTION)]


@pytest.mark.parametrize("path", list(PAGES))
def test_each_page_loads_without_an_exception(served, browser, shots, path):
    info, _ = served
    _open(browser, f"{info['dashboard_url']}/{path}", PAGES[path])
    _shot(browser, shots, path)
    assert _exceptions(browser) == []
    body = browser.find_element("css selector", '[data-testid="stMain"]').text
    assert "Traceback" not in body


def test_model_table_lists_the_registered_models(served, browser, shots, dashboard_home):
    info, _ = served
    _open(browser, f"{info['dashboard_url']}/model_browser", "Model Browser")
    rows = browser.find_elements("css selector", '[data-testid="stDataFrame"] table tbody tr')
    cells = [
        [
            (c.get_attribute("textContent") or "").strip()  # the grid's accessible table
            for c in r.find_elements("css selector", "td, th")
        ]
        for r in rows
    ]
    shown = {next(t for t in row if t) for row in cells if any(row)}  # the model_id column
    registered = {
        m["model_id"]
        for m in ModelRegistry(dashboard_home / "registry.db", read_only=True).list_models()
    }
    assert len(registered) >= 7 and shown == registered


def test_configuration_rejects_an_out_of_range_value_naming_the_key(
    served, browser, shots, dashboard_home
):
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    info, _ = served
    _open(browser, f"{info['dashboard_url']}/configuration", "Configuration")
    (tab,) = [
        t
        for t in browser.find_elements("css selector", '[data-testid="stTab"]')
        if t.text.strip() == "cognate"
    ]
    tab.click()
    (steps,) = [
        e
        for e in browser.find_elements("css selector", "input[aria-label='steps']")
        if e.is_displayed()
    ]
    steps.send_keys(Keys.CONTROL, "a")
    steps.send_keys("0")
    (save,) = [b for b in browser.find_elements("css selector", "button") if b.text == "Save"]
    save.click()

    def errors(d) -> list[str]:
        return [e.text for e in d.find_elements("css selector", ERROR) if e.text]

    WebDriverWait(browser, LOAD_TIMEOUT_S).until(lambda d: errors(d) and _idle(d))
    assert any(
        "phases.cognate.steps" in e and "greater than or equal to 1" in e for e in errors(browser)
    ), errors(browser)
    # and next to the field, on its tab
    (tab,) = [
        t
        for t in browser.find_elements("css selector", '[data-testid="stTab"]')
        if t.text.strip() == "cognate"
    ]
    tab.click()
    panel = browser.find_element("css selector", '[role="tabpanel"]:not([hidden])')
    assert any("phases.cognate.steps" in e.text for e in panel.find_elements("css selector", ERROR))
    _shot(browser, shots, "configuration_rejected")
    assert not (dashboard_home / "config.yaml").exists()  # nothing invalid is written
    assert _exceptions(browser) == []


def test_system_monitor_links_the_running_ray_dashboard(served, browser, shots):
    info, _ = served
    _open(browser, f"{info['dashboard_url']}/system_monitor", "System Monitor")
    links = [a.get_attribute("href") for a in browser.find_elements("css selector", "a[href]")]
    assert any(h.rstrip("/") == info["ray_dashboard_url"].rstrip("/") for h in links), links
    # the history chart appears once the sampler (2 s) has samples; the fragment redraws it
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 30).until(
        lambda d: d.find_elements("css selector", '[data-testid="stPlotlyChart"]')
    )
    time.sleep(5)  # a few more samples
    _shot(browser, shots, "system_monitor")
    assert _exceptions(browser) == []


def test_ctrl_c_stops_the_dashboard_and_ray(served):
    """Both servers listen on loopback only; SIGINT (Ctrl-C) stops the monitor with exit 0, and
    then none of its processes (Streamlit, Ray's) is left and no port answers. Runs last."""
    info, proc = served
    port = int(info["dashboard_url"].rsplit(":", 1)[1])
    ray_port = int(info["ray_address"].rsplit(":", 1)[1])
    assert info["ray_dashboard_url"], info
    ray_dash_port = int(info["ray_dashboard_url"].rsplit(":", 1)[1].rstrip("/"))
    members = _tree(proc.pid)
    listening = {}
    for p in members:
        try:
            for c in p.net_connections(kind="tcp"):
                if c.status == psutil.CONN_LISTEN:
                    listening[c.laddr.port] = c.laddr.ip
        except psutil.Error:
            pass
    assert {port, ray_port, ray_dash_port} <= set(listening), listening
    assert set(listening.values()) <= {"127.0.0.1", "::1", "::ffff:127.0.0.1"}, listening

    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (
        _alive(members) or _listening(port) or _listening(ray_port)
    ):
        time.sleep(0.5)
    assert _alive(members) == [], "processes of the monitor outlived it"
    assert not _listening(port) and not _listening(ray_port) and not _listening(ray_dash_port)
