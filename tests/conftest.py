import os
import shutil

import pytest

# Outside CI a machine without espeak-ng skips the speech tests; in CI (where `make test` installs
# it) a missing espeak-ng must fail them instead of hiding a broken setup step.
needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None and not os.environ.get("CI"),
    reason="espeak-ng missing; run `make setup`",
)

# The browser test drives Debian's chromium through its chromedriver (both installed by `make setup`).
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
needs_chromium = pytest.mark.skipif(
    (CHROMIUM is None or CHROMEDRIVER is None) and not os.environ.get("CI"),
    reason="chromium/chromedriver missing; run `make setup`",
)
