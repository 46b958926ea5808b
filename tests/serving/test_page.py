"""The web page in a real headless Chromium: upload a demo wav, submit, see the label and the charts."""

import pytest

from tests.conftest import CHROMEDRIVER, CHROMIUM, needs_chromium


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1000,900",
        "--autoplay-policy=no-user-gesture-required",
        "--mute-audio",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # to see what the page's CSP refused
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
    refused = [
        entry["message"] for entry in browser.get_log("browser") if "Content Security Policy" in entry["message"]
    ]
    assert refused == []


@needs_chromium
def test_a_long_recording_becomes_a_timeline_that_plays_from_the_clicked_segment(
    listening_server, short_recording, browser, tmp_path
):
    """...and lists each speech segment with the words speech recognition heard in it, in Hangul."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(listening_server + "/")
    WebDriverWait(browser, 20).until(lambda b: "Model:" in b.find_element(By.ID, "model").text)
    browser.find_element(By.ID, "audio").send_keys(str(short_recording.path))
    browser.find_element(By.ID, "timeline-button").click()
    WebDriverWait(browser, 180).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".segment.speech"))
    segments = browser.find_elements(By.CSS_SELECTOR, ".segment.speech")
    assert len(segments) == len(short_recording.speech) and browser.find_element(By.ID, "error").text == ""
    assert browser.find_element(By.CSS_SELECTOR, "#wave polygon").is_displayed()
    target = segments[5]
    start = float(target.get_attribute("data-start"))
    browser.execute_script("arguments[0].scrollIntoView({inline: 'center'})", target)
    target.click()
    WebDriverWait(browser, 20).until(
        lambda b: b.execute_script(
            "const p = document.getElementById('player'); return !p.paused && p.currentTime > arguments[0];", start
        )
    )
    now = browser.execute_script("return document.getElementById('player').currentTime")
    assert start <= now < start + 3, (start, now)  # it plays from that segment
    assert "playing" in target.get_attribute("class")
    browser.save_screenshot(str(tmp_path / "timeline.png"))

    rows = browser.find_elements(By.CSS_SELECTOR, "#timeline-rows tbody tr")
    assert len(rows) == len(segments)
    words = [row.find_element(By.CSS_SELECTOR, "td.words").text for row in rows]
    heard = [text for text in words if text.endswith("recognised")]
    # espeak-ng's Korean is hard to hear: Hangul words in most rows, not the right words.
    assert len([text for text in heard if any("\uac00" <= ch <= "\ud7a3" for ch in text)]) >= len(rows) / 2, words
    assert "playing" in browser.find_element(
        By.CSS_SELECTOR, f"#timeline-rows tr[data-index='{target.get_attribute('data-index')}']"
    ).get_attribute("class")

    # The keyboard: the arrow key moves to the next segment, Enter plays it.
    target.send_keys(Keys.ARROW_RIGHT)
    focused = browser.switch_to.active_element
    following = float(focused.get_attribute("data-start"))
    assert following > start
    focused.send_keys(Keys.ENTER)
    WebDriverWait(browser, 20).until(
        lambda b: b.execute_script("return document.getElementById('player').currentTime >= arguments[0];", following)
    )


@needs_chromium
def test_korean_renders_with_real_glyphs_and_the_page_fits_a_phone(server, browser, tmp_path):
    """Without a CJK font the placeholder 아 친구들도? showed as empty boxes: every missing glyph is
    drawn as the same box, so two different Korean syllables rendering alike means no font."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.set_window_size(390, 844)  # a phone
    browser.get(server + "/")
    WebDriverWait(browser, 20).until(lambda b: "Model:" in b.find_element(By.ID, "model").text)
    drawn = browser.execute_script(r"""
        const font = getComputedStyle(document.getElementById('text')).fontFamily;
        function pixels(text) {
          const canvas = document.createElement('canvas'); canvas.width = 64; canvas.height = 64;
          const context = canvas.getContext('2d');
          context.font = '48px ' + font; context.fillStyle = '#000'; context.fillText(text, 4, 52);
          return Array.from(context.getImageData(0, 0, 64, 64).data).join(',');
        }
        return {friend: pixels('친'), old: pixels('구'), missing: pixels('\u{10FFFD}'), blank: pixels(' ')};
    """)
    assert drawn["friend"] != drawn["blank"] and drawn["old"] != drawn["blank"]
    assert drawn["friend"] != drawn["old"], "two Korean syllables render alike: no Korean font"
    assert drawn["friend"] != drawn["missing"]
    browser.save_screenshot(str(tmp_path / "phone.png"))
    fits = browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert fits, "the page scrolls sideways on a phone-width window"
