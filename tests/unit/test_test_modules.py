"""Test modules share through tests/helpers.py, the focused helper modules beside it and fixtures, never each other.

A test module that imports another runs the other's module code in its own collection and hides where a shared
step lives; the next reader copies it a third time. The constants of the test world (the region, the table,
moto's account) are spelled once, in tests/helpers.py, so that no module can drift from the others.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import ACCOUNT, REGION, REPOSITORY_ROOT, TABLE

TESTS = REPOSITORY_ROOT / "tests"


def is_test_module(path: Path) -> bool:
    """What pytest collects tests from (its default ``python_files``)."""
    return path.suffix == ".py" and (path.name.startswith("test_") or path.stem.endswith("_test"))


def dotted(path: Path, root: Path) -> str:
    return ".".join(path.relative_to(root).with_suffix("").parts)


def references(path: Path, root: Path) -> tuple[set[str], set[str]]:
    """What ``path`` may import: the dotted names of its import statements (absolute and relative, and each name
    a ``from`` import takes, which may be a module), and the strings it holds that name a module or a source file
    (for ``importlib.import_module`` or ``tests.helpers.load_module``)."""
    package = path.relative_to(root).parent.parts
    imported: set[str] = set()
    strings: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            anchor = package[: len(package) - node.level + 1] if node.level else ()
            base = ".".join([*anchor, *([node.module] if node.module else [])])
            imported.add(base)
            imported.update(f"{base}.{alias.name}" if base else alias.name for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            strings.add(".".join(Path(node.value).with_suffix("").parts) if node.value.endswith(".py") else node.value)
    return imported, strings


def imports_of_test_modules(root: Path) -> list[str]:
    """Each import of a test module by a module under ``root/tests``: a test module, a conftest or a helper."""
    tests = root / "tests"
    test_modules = {dotted(path, root): path for path in tests.rglob("*.py") if is_test_module(path)}
    by_stem = {path.stem: path for path in test_modules.values()}  # ``import test_x``, rootdir-relative
    found = []
    for path in sorted(tests.rglob("*.py")):
        imported, strings = references(path, root)
        targets = {test_modules.get(name) or by_stem.get(name) for name in imported}
        targets |= {test_modules.get(name) for name in strings}
        found += [f"{path.relative_to(root)} imports {target.relative_to(root)}" for target in targets - {None, path}]
    return sorted(found)


def test_no_module_under_tests_imports_a_test_module() -> None:
    imports = imports_of_test_modules(REPOSITORY_ROOT)

    assert not imports, "move what they share to tests/helpers.py or a fixture:\n" + "\n".join(imports)


@pytest.mark.parametrize(
    "source",
    [
        "import tests.functional.test_other",
        "from tests.functional import test_other",
        "from tests.functional.test_other import SHARED",
        "from . import test_other",
        "from .test_other import SHARED",
        "from ..functional.test_other import SHARED",
        "import test_other",
        "importlib.import_module('tests.functional.test_other')",
        "load_module('tests/functional/test_other.py')",
    ],
)
def test_the_check_sees_a_test_module_imported_in_any_form(tmp_path: Path, source: str) -> None:
    functional = tmp_path / "tests" / "functional"
    functional.mkdir(parents=True)
    (tmp_path / "tests" / "helpers.py").write_text("SHARED = 1\n")
    (functional / "test_other.py").write_text("SHARED = 1\n")
    (functional / "test_mine.py").write_text(source + "\n")

    assert imports_of_test_modules(tmp_path) == ["tests/functional/test_mine.py imports tests/functional/test_other.py"]


def test_the_check_lets_a_test_module_import_the_helpers(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "helpers.py").write_text("SHARED = 1\n")
    (tmp_path / "tests" / "test_mine.py").write_text("from tests.helpers import SHARED\nfrom . import helpers\n")

    assert imports_of_test_modules(tmp_path) == []


def test_the_region_table_and_account_of_the_tests_are_spelled_only_in_tests_helpers() -> None:
    shared = {REGION: "REGION", TABLE: "TABLE", ACCOUNT: "ACCOUNT"}
    spelled = [
        f"{path.relative_to(REPOSITORY_ROOT)}:{node.lineno} spells {node.value!r}, tests.helpers.{shared[node.value]}"
        for path in sorted(TESTS.rglob("*.py"))
        if path != TESTS / "helpers.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in shared
    ]

    assert not spelled, "\n".join(spelled)
