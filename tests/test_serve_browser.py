"""`anymae serve` in a real browser: headless Chromium (the system's package, driven by Selenium with the
system's chromedriver) opens the page served on loopback, uploads an image, changes the ratio and sees the
reconstruction appear and change; a bad choice shows its message on the page. A screenshot is kept in
$ANYMAE_TEST_ARTIFACTS (default runs/test-artifacts/). Without a browser the test is skipped, saying why."""
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install -e '.[serve,serve-test]'")
uvicorn = pytest.importorskip("uvicorn", reason="the serve extra is not installed: pip install -e '.[serve,serve-test]'")

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("ANYMAE_TEST_ARTIFACTS", ROOT / "runs" / "test-artifacts"))
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DRIVERS = ("chromedriver",)
WAIT = 60  # seconds: a generous bound for a loaded machine; the test never asserts a time


def find(names) -> str | None:
    extra = ["/usr/lib/chromium/chromedriver", "/usr/lib/chromium-browser/chromedriver"]
    return next((p for p in [shutil.which(n) for n in names] + [e for e in extra if os.path.basename(e) in names
                                                                  and os.access(e, os.X_OK)] if p), None)


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver",
                                    reason="selenium is not installed (pip install -e '.[serve-test]'): browser test skipped")
    binary, driver = find(BROWSERS), find(DRIVERS)
    if not binary or not driver:
        pytest.skip(f"no {'Chromium' if not binary else 'chromedriver'} found on this machine (.ci/run installs the "
                    "Debian packages chromium and chromium-driver): browser test skipped")
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,900"):
        options.add_argument(arg)
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    yield chrome
    chrome.quit()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from test_serve import pretrain_tiny_run
    from anymae.serve.app import create_app
    from test_serve_generation import tiny_generator_runs
    run = pretrain_tiny_run(tmp_path_factory.mktemp("browser") / "tiny")
    generator_runs = tiny_generator_runs(tmp_path_factory.mktemp("browser-gen"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app([run, *generator_runs]), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(timeout=10)


def wait_for(condition, what: str):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"the page did not show {what} within {WAIT} s")


def panel_sources(chrome) -> dict:
    """{panel title: image src} of the panels shown now, read in one script (the page redraws them)."""
    return chrome.execute_script("const out = {}; document.querySelectorAll('#panels img')"
                                 ".forEach((img) => { out[img.alt] = img.src; }); return out;")


def test_page_uploads_an_image_and_the_reconstruction_follows_the_ratio(browser, server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    chrome = browser
    chrome.get(server)
    wait_for(lambda: panel_sources(chrome).get("prediction"), "a first reconstruction (built-in sample)")
    first = panel_sources(chrome)["original"]
    assert first.startswith("data:image/png;base64,")

    image = tmp_path / "mine.png"
    picture = Image.new("RGB", (64, 48), (240, 240, 240))
    picture.paste((200, 20, 20), (8, 8, 40, 40))
    picture.save(image)
    chrome.find_element(By.ID, "file").send_keys(str(image))
    uploaded = wait_for(lambda: (p := panel_sources(chrome).get("original")) and p != first and
                        chrome.find_element(By.ID, "source-file").is_selected() and p, "the uploaded image")
    before = wait_for(lambda: panel_sources(chrome).get("masked"), "the masked panel")
    summary = chrome.find_element(By.ID, "summary").text
    assert "of 16 tokens hidden" in summary and "ratio 0.75" in summary

    slider = chrome.find_element(By.ID, "ratio")
    for _ in range(slider_steps(chrome, 0.75, 0.25)):
        slider.send_keys(Keys.ARROW_LEFT)
    wait_for(lambda: chrome.find_element(By.ID, "result").get_attribute("data-ratio") == "0.25", "the new ratio")
    after = panel_sources(chrome)
    assert after["original"] == uploaded  # the same upload ...
    assert after["masked"] != before  # ... masked at the new ratio
    assert "4 of 16 tokens hidden" in chrome.find_element(By.ID, "summary").text
    assert not chrome.find_element(By.ID, "error").is_displayed()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "serve-page.png"
    chrome.save_screenshot(str(shot))
    assert Image.open(shot).size[0] >= 1000

    # a masker that cannot mask this run's grid: the page says why, then recovers
    from selenium.webdriver.support.ui import Select
    Select(chrome.find_element(By.ID, "masker")).select_by_value("channel_patch")
    error = chrome.find_element(By.ID, "error")
    wait_for(lambda: error.is_displayed() and "channel_patch" in error.text, "the error message")
    Select(chrome.find_element(By.ID, "masker")).select_by_value("random")
    wait_for(lambda: not error.is_displayed(), "the error message cleared")


def slider_steps(chrome, start: float, end: float) -> int:
    from selenium.webdriver.common.by import By
    step = float(chrome.find_element(By.ID, "ratio").get_attribute("step"))
    return round((start - end) / step)


def test_run_and_mask_tabs_show_curve_config_and_gallery(browser, server):
    from selenium.webdriver.common.by import By
    chrome = browser
    chrome.get(server)
    chrome.find_element(By.ID, "tab-run").click()
    wait_for(lambda: "recipe: mae_laptop" in chrome.find_element(By.ID, "config").text, "the run's config")
    assert "points from metrics.csv" in chrome.find_element(By.ID, "curve-note").text
    chrome.find_element(By.ID, "tab-masks").click()
    wait_for(lambda: chrome.execute_script("const g = document.getElementById('gallery');"
                                           "return g.complete && g.naturalWidth > 300;"), "the mask gallery")
    chrome.save_screenshot(str(ARTIFACTS / "serve-masks.png"))


def test_generate_panel_of_a_generator_run(browser, server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    chrome = browser
    chrome.get(server)
    wait_for(lambda: panel_sources(chrome).get("prediction"), "the first run's reconstruction")
    Select(chrome.find_element(By.ID, "run")).select_by_value("gen")
    samples = lambda: chrome.execute_script("const s = document.getElementById('samples');"
                                            "return s.complete && s.naturalWidth > 0 ? s.src : null;")
    first = wait_for(samples, "a first grid of samples")
    assert chrome.find_element(By.ID, "generate").is_displayed() and not chrome.find_element(By.ID, "masker").is_displayed()
    assert not chrome.find_element(By.ID, "result").is_displayed()  # the reconstruction panels give way
    wait_for(lambda: len(Select(chrome.find_element(By.ID, "gen-class")).options) == 11, "the run's ten classes")
    Select(chrome.find_element(By.ID, "gen-class")).select_by_value("3")
    Select(chrome.find_element(By.ID, "gen-sampler")).select_by_value("recap")
    chrome.find_element(By.ID, "generate").click()
    wait_for(lambda: (s := samples()) and s != first and "(class 3), recap" in chrome.find_element(By.ID, "summary").text,
             "the class-3 samples")
    chrome.save_screenshot(str(ARTIFACTS / "serve-generate.png"))
    steps = chrome.find_element(By.ID, "gen-steps")
    steps.clear()
    steps.send_keys("0")
    chrome.find_element(By.ID, "generate").click()
    error = chrome.find_element(By.ID, "error")
    wait_for(lambda: error.is_displayed() and "steps must be a whole number" in error.text, "the steps error")
