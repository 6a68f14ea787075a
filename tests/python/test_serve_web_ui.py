"""The web chat page (`lmdeploy serve gradio`) in a real headless Chromium (Debian's
`chromium` + `chromium-driver`, driven by selenium; installed by tools/setup.sh), on both
backends: a URL of a running api_server (the seed's 2.4.1) and a model PATH run in-process
(2.4.2). Types a question, sees a streamed answer, asks a second question (multi-turn),
then starts a long answer and presses Stop. Screenshots are kept in $LMD_ARTIFACT_DIR (default:
the system temp dir) as serve_web_ui_<backend>.png.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

SERVER_FLAGS = ["--session-len", "2048", "--cache-max-entry-count", "128"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args, url):
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while True:
        if proc.poll() is not None:
            pytest.fail(f"{' '.join(args[:3])} exited with {proc.returncode}:\n{proc.stdout.read()[-3000:]}",
                        pytrace=False)
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            pass
        if time.time() > deadline:
            proc.kill()
            pytest.fail(f"{url} did not answer within 120 s", pytrace=False)
        time.sleep(0.2)


def _stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def browser():
    try:
        from selenium import webdriver
    except ImportError as e:
        pytest.fail(f"selenium is not importable ({e}); install it with tools/setup.sh", pytrace=False)
    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.fail("Debian's chromium and chromium-driver are needed: "
                    "apt-get install chromium chromium-driver (tools/setup.sh)", pytrace=False)
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,900"):
        opts.add_argument(a)
    service = webdriver.ChromeService(executable_path=driver_path)
    drv = webdriver.Chrome(options=opts, service=service)
    yield drv
    drv.quit()


@pytest.fixture(scope="module", params=["url", "path"])
def web_ui(request, lmd_binary, model_path):
    procs = []
    page_port = _free_port()
    if request.param == "url":
        api_port = _free_port()
        procs.append(_start([str(lmd_binary), "serve", "api_server", str(model_path), "--server_name", "127.0.0.1",
                             "--server_port", str(api_port), *SERVER_FLAGS],
                            f"http://127.0.0.1:{api_port}/health"))
        target = f"http://127.0.0.1:{api_port}"
        extra = ["--restful_api", "True"]
    else:
        target = str(model_path)
        extra = SERVER_FLAGS
    procs.append(_start([str(lmd_binary), "serve", "gradio", target, "--server_name", "127.0.0.1",
                         "--server_port", str(page_port), *extra],
                        f"http://127.0.0.1:{page_port}/v1/models"))
    yield request.param, f"http://127.0.0.1:{page_port}/"
    for p in reversed(procs):
        _stop(p)


def _wait(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}", pytrace=False)


def test_chat_stream_multiturn_and_stop(browser, web_ui):
    from selenium.webdriver.common.by import By
    backend, url = web_ui
    browser.get(url)
    _wait(lambda: browser.find_element(By.ID, "model").text == "smollm2", 20, "the model name")

    def ask(question, max_tokens):
        box = browser.find_element(By.ID, "max_tokens")
        box.clear()
        box.send_keys(str(max_tokens))
        browser.find_element(By.ID, "prompt").send_keys(question)
        browser.find_element(By.ID, "send").click()
        return len(browser.find_elements(By.CSS_SELECTOR, ".msg.assistant"))

    # 1. A streamed answer: the text is seen growing before the request ends.
    n = ask("Write three sentences about the sea.", 60)
    answer = lambda: browser.find_elements(By.CSS_SELECTOR, ".msg.assistant")[n - 1].text
    seen = set()
    while browser.find_element(By.ID, "send").get_attribute("disabled") is not None:
        seen.add(answer())
        time.sleep(0.02)
    final = answer()
    assert final.strip(), "no answer text"
    assert len({s for s in seen if s and s != final}) >= 2, "the answer did not stream"
    assert "tokens/s" in browser.find_element(By.ID, "speed").text

    # 2. Multi-turn: the second question is answered after the first (two assistant bubbles).
    n = ask("And one more about ships.", 20)
    _wait(lambda: browser.find_element(By.ID, "send").get_attribute("disabled") is None, 60, "turn 2")
    assert n == 2 and answer().strip()

    # 3. Stop: a long answer is cut when Stop is pressed.
    n = ask("Tell me a very long story about a dragon.", 1500)
    _wait(lambda: len(answer()) > 20, 60, "the long answer to start")
    browser.find_element(By.ID, "stop").click()
    _wait(lambda: browser.find_element(By.ID, "send").get_attribute("disabled") is None, 10, "Stop")
    assert answer().endswith("[stopped]")
    assert "stopped after" in browser.find_element(By.ID, "speed").text

    out = Path(os.environ.get("LMD_ARTIFACT_DIR", tempfile.gettempdir())) / f"serve_web_ui_{backend}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(out))
    assert out.stat().st_size > 10000
