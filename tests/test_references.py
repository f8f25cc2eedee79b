"""Every file the code and documents name is in the repository, and none of them points
outside it (a reader of a checkout or an installed package can open what is cited)."""

import re
from pathlib import Path as FsPath

ROOT = FsPath(__file__).resolve().parent.parent
TOP = ("docs", "recipes", "tools", "keras_evomt", "tests", ".ci")
# `recipes/nope.py`: the CLI test of a recipe that does not exist; `summary.md`: what
# `evomt report` writes to DIR/reports/.
MEANT_MISSING = {"recipes/nope.py", "summary.md"}
REPO_PATH = re.compile(r"(?<![\w./-])((?:" + "|".join(map(re.escape, TOP)) + r")/[\w./*-]*)")
BARE_MD = re.compile(r"(?<![\w./-])([\w-]+\.md)\b")
MD_LINK = re.compile(r"\]\(([\w./-]+)\)")
OUTSIDE = ("../" + "shared", "/wo" + "rk/")  # split, so this file does not name them


def repository_files() -> list[FsPath]:
    return sorted(
        p
        for p in ROOT.rglob("*")
        if p.suffix in (".py", ".md")
        and p.is_file()
        and p != FsPath(__file__).resolve()  # its examples of broken references
        and not any(
            part.startswith(".") or part.endswith(".egg-info")
            for part in p.relative_to(ROOT).parts[:-1]
        )
    )


def exists(reference: str) -> bool:
    reference = reference.rstrip(".,:;")
    if "*" in reference:
        return any(ROOT.glob(reference))
    return (ROOT / reference).exists()


def broken_references(file: FsPath) -> list[str]:
    text = file.read_text(encoding="utf-8")
    broken = [
        ref
        for ref in REPO_PATH.findall(text)
        if ref.rstrip(".,:;") not in MEANT_MISSING and not exists(ref)
    ]
    broken += [
        name
        for name in BARE_MD.findall(text)
        if name not in MEANT_MISSING
        and not (ROOT / name).exists()
        and not (file.parent / name).exists()
    ]
    broken += [
        link
        for link in MD_LINK.findall(text)
        if file.suffix == ".md" and not (file.parent / link).exists()
    ]
    return broken


def test_the_scan_sees_the_repository():
    names = {p.relative_to(ROOT).as_posix() for p in repository_files()}
    assert {"README.md", "docs/method.md", "keras_evomt/recipe.py", "tests/helpers.py"} <= names
    assert not {n for n in names if n.startswith(".git/")}


def test_the_scan_finds_a_broken_reference(tmp_path):
    file = tmp_path / "x.md"
    file.write_text("See docs/nothing.md, method.md and [here](gone.md); docs/method.md is.")
    assert sorted(broken_references(file)) == ["docs/nothing.md", "gone.md", "gone.md", "method.md"]


def test_every_referenced_repository_file_exists():
    broken = {
        p.relative_to(ROOT).as_posix(): refs
        for p in repository_files()
        if (refs := broken_references(p))
    }
    assert not broken, f"references to files the repository does not hold: {broken}"


def test_nothing_points_outside_the_repository():
    found = {
        p.relative_to(ROOT).as_posix(): [o for o in OUTSIDE if o in p.read_text("utf-8")]
        for p in repository_files()
    }
    assert not {k: v for k, v in found.items() if v}
