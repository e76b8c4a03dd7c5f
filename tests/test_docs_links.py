"""README.md and docs/*.md: every relative link resolves to a file a fresh clone has, and nothing points
outside the repository (the design a user needs is in docs/, not in ../shared)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# [text](target) and [text](target "title"); images too. Targets with a scheme or only an anchor are skipped.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def _tracked_files() -> set[Path] | None:
    """The files a fresh clone has (git's index), or None outside a git checkout."""
    if shutil.which("git") is None:
        return None
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, timeout=60)
    if listed.returncode != 0:
        return None
    return {ROOT / name for name in listed.stdout.decode().split("\0") if name}


def _links(document: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", document.read_text(encoding="utf-8"), flags=re.DOTALL)  # code is not a link
    return [target for target in LINK.findall(text) if not EXTERNAL.match(target) and not target.startswith("#")]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_resolves_inside_the_repository(document):
    tracked = _tracked_files()
    for target in _links(document):
        path = (document.parent / target.split("#", 1)[0]).resolve()
        assert path.is_relative_to(ROOT), f"{document.name}: {target} points outside the repository"
        assert path.exists(), f"{document.name}: {target} does not exist"
        if tracked is not None and path.is_file():
            assert path in tracked, f"{document.name}: {target} is not committed (a fresh clone lacks it)"
        if tracked is not None and path.is_dir():
            assert any(file.is_relative_to(path) for file in tracked), f"{document.name}: {target} is empty in git"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_nothing_refers_to_the_shared_design_outside_the_repository(document):
    assert "../shared" not in document.read_text(encoding="utf-8")


def test_the_readme_links_the_user_design_and_names_the_first_steps():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/DESIGN.md" in _links(ROOT / "README.md")
    for words in ("fundledger init", "--create-accounts", "fundledger book create", "debit-positive"):
        assert words in readme, words
