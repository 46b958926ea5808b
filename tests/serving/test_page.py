"""The web page in a real headless Chromium: upload a demo wav, submit, see the label and the charts."""

import pytest

from tests.conftest import CHROMEDRIVER, CHROMIUM, needs_chromium


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1000,900"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})   # to see what the page's CSP refused
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@needs_chromium
def test_upload_a_demo_wav_and_see_the_label_and_the_charts(server, trained, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    wav = sorted((trained[0] / "wav").rglob("*.wav"))[0]
    browser.get(server + "/")
    WebDriverWait(browser, 20).until(lambda b: "Model:" in b.find_element(By.ID, "model").text)
    browser.find_element(By.ID, "audio").send_keys(str(wav))
    browser.find_element(By.ID, "text").send_keys("오늘 정말 재밌었어")
    browser.find_element(By.ID, "submit").click()
    WebDriverWait(browser, 60).until(ready.visibility_of_element_located((By.ID, "label")))
    label = browser.find_element(By.ID, "label").text
    health = browser.execute_script("return fetch('health').then(r => r.json())")
    assert label in health["classes"]
    bars = browser.find_elements(By.CSS_SELECTOR, "#chart rect.bar")
    assert sorted(bar.get_attribute("data-class") for bar in bars) == sorted(health["classes"])
    assert browser.find_element(By.ID, "av-point").is_displayed()
    assert browser.find_element(By.ID, "error").text == ""
    browser.save_screenshot(str(tmp_path / "page.png"))
    assert (tmp_path / "page.png").stat().st_size > 10_000

    browser.find_element(By.ID, "audio").send_keys(str(trained[0] / "annotation" / "Sess01_eval.csv"))
    browser.find_element(By.ID, "submit").click()
    WebDriverWait(browser, 30).until(lambda b: b.find_element(By.ID, "error").text)
    assert "not a readable audio file" in browser.find_element(By.ID, "error").text
    browser.save_screenshot(str(tmp_path / "page-error.png"))


@needs_chromium
def test_the_page_and_the_docs_run_under_their_content_policy_offline(server, browser):
    """/docs loaded Swagger UI from a CDN (blank offline); the CSP must block nothing the pages need."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server + "/")
    WebDriverWait(browser, 20).until(lambda b: "Model:" in b.find_element(By.ID, "model").text)
    browser.get(server + "/docs")
    WebDriverWait(browser, 30).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".opblock-summary-path"))
    paths = {element.text for element in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert {"/predict", "/health"} <= {path.replace("\u200b", "") for path in paths}
    refused = [entry["message"] for entry in browser.get_log("browser") if "Content Security Policy" in entry["message"]]
    assert refused == []
