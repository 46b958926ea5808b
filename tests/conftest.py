import os
import shutil

import pytest

ESPEAK = shutil.which("espeak-ng")


def pytest_collection_modifyitems(config, items):
    """Tests that speak (marked ``espeak``, or using the shared demo corpus) say so in their marker:
    ``-m "not espeak"`` deselects them.  Outside CI a machine without espeak-ng skips them with the
    reason; in CI (where `make test` installs it) a missing espeak-ng fails them instead of hiding a
    broken setup step."""
    for item in items:
        if "demo_corpus" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.espeak)
        if ESPEAK is None and not os.environ.get("CI") and item.get_closest_marker("espeak"):
            item.add_marker(pytest.mark.skip(reason="espeak-ng missing; run `make setup`"))


@pytest.fixture(scope="session")
def demo_corpus(tmp_path_factory):
    """One small synthetic KEMDy20 corpus (4 sessions x 16 segments, seed 4, with bio-signals),
    generated once per test session and shared by every test that needs real speech.  Tests only
    read it; what they write goes to their own tmp_path."""
    from vamer.data.demo import generate_demo

    root = tmp_path_factory.mktemp("shared-demo") / "corpus"
    generate_demo(root, sessions=4, segments_per_session=16, seed=4, progress=False)
    return root

# The browser test drives Debian's chromium through its chromedriver (both installed by `make setup`).
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
needs_chromium = pytest.mark.skipif(
    (CHROMIUM is None or CHROMEDRIVER is None) and not os.environ.get("CI"),
    reason="chromium/chromedriver missing; run `make setup`",
)
