"""The screenshot of docs/serve.md: `anymae serve RUN` on loopback in headless Chromium (Selenium).

    python benchmarks/serve_screenshot.py runs/demo docs/serve.png [--image cat.png] [--ratio 0.75]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_serve_browser import find, BROWSERS, DRIVERS, panel_sources, wait_for  # noqa: E402
from serve_load import serve  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    parser.add_argument("out")
    parser.add_argument("--sample", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tab", default="reconstruct", choices=["reconstruct", "run", "masks"])
    parser.add_argument("--size", default="1400,760")
    args = parser.parse_args()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    server, url = serve(args.run)
    options = webdriver.ChromeOptions()
    options.binary_location = find(BROWSERS)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={args.size}"):
        options.add_argument(arg)
    chrome = webdriver.Chrome(service=Service(find(DRIVERS)), options=options)
    try:
        chrome.get(url)
        wait_for(lambda: panel_sources(chrome).get("prediction"), "a reconstruction")
        for field, value in (("sample", args.sample), ("seed", args.seed)):
            box = chrome.find_element(By.ID, field)
            box.clear()
            box.send_keys(str(value))
            chrome.execute_script("arguments[0].dispatchEvent(new Event('change'))", box)
        wait_for(lambda: chrome.find_element(By.ID, "result").get_attribute("data-seed") == str(args.seed), "the seed")
        time.sleep(1.0)
        if args.tab != "reconstruct":
            chrome.find_element(By.ID, f"tab-{args.tab}").click()
            time.sleep(3.0)
        chrome.save_screenshot(args.out)
    finally:
        chrome.quit()
        server.should_exit = True
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
