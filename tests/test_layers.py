"""vamer flows one way (raw dataset -> utterance table -> words (speech) -> features -> models -> training -> recipe
-> metrics and reports -> bundle -> commands (run, sweep, train, baseline) -> predictor -> timeline -> service): a
stage never imports a later one.
Read from the source, so an import inside a function counts too."""

import ast
from pathlib import Path

import pytest

import vamer

PACKAGE = Path(vamer.__file__).parent
# Each stage, and the vamer modules it must never import (a prefix covers a whole package).
LATER = (
    "vamer.recipe",
    "vamer.commands",
    "vamer.evaluation",
    "vamer.inference",
    "vamer.timeline",
    "vamer.serving",
    "vamer.cli",
    "vamer.replay",
)
FORBIDDEN = {
    "data": (
        "vamer.speech",
        "vamer.features",
        "vamer.models",
        "vamer.training",
        "vamer.presets",
        "vamer.analysis",
        *LATER,
    ),
    "speech": ("vamer.features", "vamer.models", "vamer.training", "vamer.presets", "vamer.analysis", *LATER),
    "features": ("vamer.models", "vamer.training", "vamer.presets", "vamer.analysis", *LATER),
    "models": (
        "vamer.data",
        "vamer.features",
        "vamer.training",
        "vamer.presets",
        "vamer.analysis",
        "vamer.metrics",
        "vamer.errors",
        "vamer.config",
        "vamer.fileio",
        *LATER,
    ),
    "training": ("vamer.presets", "vamer.analysis", *LATER),
    "presets": ("vamer.analysis", *LATER),
    "recipe": ("vamer.commands", "vamer.evaluation", "vamer.inference", "vamer.timeline", "vamer.serving", "vamer.cli"),
    "evaluation": ("vamer.commands", "vamer.inference", "vamer.timeline", "vamer.serving", "vamer.cli"),
    "commands": ("vamer.timeline", "vamer.serving", "vamer.cli"),
    "inference": (
        "vamer.recipe",
        "vamer.commands",
        "vamer.evaluation",
        "vamer.timeline",
        "vamer.serving",
        "vamer.cli",
    ),
    "timeline": (
        "vamer.recipe",
        "vamer.commands",
        "vamer.evaluation",
        "vamer.training",
        "vamer.serving",
        "vamer.cli",
    ),
    "serving": ("vamer.recipe", "vamer.commands", "vamer.evaluation", "vamer.training", "vamer.cli"),
}


def imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            # "from vamer import recipe" imports vamer.recipe
            names |= {f"{node.module}.{alias.name}" for alias in node.names} | {node.module}
    return {name for name in names if name.startswith("vamer")}


@pytest.mark.parametrize("stage", sorted(FORBIDDEN))
def test_a_stage_imports_no_later_stage(stage):
    wrong = {
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in (PACKAGE / stage).rglob("*.py")
        for name in imported(path)
        if name.startswith(FORBIDDEN[stage])
    }
    assert not wrong, sorted(wrong)


def test_models_import_only_torch_and_themselves():
    """models/build.py imported features and presets, and presets imported models: a cycle."""
    for path in (PACKAGE / "models").glob("*.py"):
        assert all(name.startswith("vamer.models") for name in imported(path)), path.name


def test_the_checker_sees_an_import_inside_a_function(tmp_path):
    source = tmp_path / "m.py"
    source.write_text(
        "def f():\n    from vamer.recipe import train_fold\n    import vamer.cli\n    from vamer import commands\n"
    )
    assert {"vamer.recipe", "vamer.cli", "vamer.commands"} <= imported(source)
