"""What keeps the codebase one a newcomer can change: modules short enough to read whole.  (Ruff's
PLR0913, run by `make test`, keeps every function to 8 parameters, a Typer command aside.)"""

from pathlib import Path

import vamer

PACKAGE = Path(vamer.__file__).parent
MAX_LINES = 450


def test_no_module_is_longer_than_450_lines():
    long = {
        str(path.relative_to(PACKAGE)): count
        for path in PACKAGE.rglob("*.py")
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, long


def test_ruff_keeps_functions_to_8_parameters():
    import tomllib

    settings = tomllib.loads((PACKAGE.parents[1] / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["ruff"]
    assert "PLR0913" in settings["lint"]["select"] and settings["lint"]["pylint"]["max-args"] == 8
