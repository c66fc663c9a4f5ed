"""The README's promises: its two first commands, and what CI runs."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _first_commands():
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    return [line for line in blocks[0].splitlines() if line and not line.startswith("#")]


def test_readme_starts_with_install_and_score_then_install_and_test():
    head = README[: README.index("\n## ")]
    assert "```bash" in head, "the two commands must come before the first section"
    score, test = _first_commands()
    assert "pip install ." in score and "coercion-classifier score datasets/samples/" in score
    assert "pip install '.[test]'" in test and test.rstrip().endswith("pytest")
    sample = score.split("coercion-classifier score ")[1].split()[0]
    assert (ROOT / sample).is_file()


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    block = ci.split("# --- README test command ---\n")[1].split("# --- end ---")[0].strip()
    assert block == _first_commands()[1]


def test_labelling_guide_names_every_category():
    from classifier.labels import CATEGORIES

    guide = (ROOT / "datasets" / "README.md").read_text(encoding="utf-8")
    for category in CATEGORIES:
        assert f"`{category}`" in guide, category
