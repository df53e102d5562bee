"""shared/pyproject.toml declares what its two packages import, in ranges that admit the pinned versions.

``lease_core`` is the runtime vendored into every Lambda: besides the standard library and itself it may
import only the distribution's ``dependencies``. ``lease_ops`` is the operator side: it may import those,
``lease_core``, and the ``ops`` extra. An import is mapped to the distribution that provides it with
``importlib.metadata.packages_distributions()`` (``import yaml`` is PyYAML), lazy imports included.

Every declared requirement is pinned in requirements/dev.txt (the direct pins) and constraints.txt (all
of them) at a version its range admits: `make install` resolves the pins and ``-e "./shared[ops]"`` in one
pip run, and a range that excluded a pin would fail it.
"""

from __future__ import annotations

import sys
import tomllib
from functools import cache
from importlib.metadata import distribution, packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.helpers import REPOSITORY_ROOT, imported_modules

SHARED = REPOSITORY_ROOT / "shared"
REQUIREMENTS = REPOSITORY_ROOT / "requirements"
FIRST_PARTY = {"lease_core", "lease_ops"}


def declared(group: str) -> dict[str, Requirement]:
    """The requirements of ``dependencies`` or of an extra, by canonical distribution name."""
    project = tomllib.loads((SHARED / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] if group == "dependencies" else project["optional-dependencies"][group]
    return {canonicalize_name(requirement.name): requirement for requirement in map(Requirement, lines)}


def pinned(requirements_file: Path) -> dict[str, Requirement]:
    """The pins of a requirements file, by canonical distribution name."""
    pins = {}
    for line in requirements_file.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            pins[canonicalize_name(requirement.name)] = requirement
    return pins


def pinned_version(requirement: Requirement) -> str:
    (pin,) = requirement.specifier
    assert pin.operator == "==", f"{requirement} is not a pin"
    return pin.version


@cache
def third_party_imports(package: str) -> tuple[tuple[str, str, frozenset[str]], ...]:
    """Each import of a module from outside the standard library and the distribution, under ``shared/<package>``:
    the importing file, the module, and the distributions that provide it (none if nothing installed does)."""
    providers = packages_distributions()
    found = []
    for path in sorted((SHARED / package).rglob("*.py")):
        for name in sorted(imported_modules(path)):
            top = name.split(".")[0]
            if top not in sys.stdlib_module_names and top not in FIRST_PARTY:
                distributions = frozenset(canonicalize_name(provider) for provider in providers.get(top, []))
                found.append((str(path.relative_to(SHARED)), name, distributions))
    return tuple(found)


def undeclared_imports(package: str, allowed: set[str]) -> list[str]:
    return [
        f"{path} imports {name} (from {', '.join(sorted(provided_by)) or 'no installed distribution'})"
        for path, name, provided_by in third_party_imports(package)
        if not provided_by & allowed
    ]


def imported_distributions(package: str) -> set[str]:
    return {provider for _, _, provided_by in third_party_imports(package) for provider in provided_by}


def test_the_deployed_core_imports_only_what_the_distribution_depends_on() -> None:
    undeclared = undeclared_imports("lease_core", set(declared("dependencies")))

    assert not undeclared, "not in [project] dependencies of shared/pyproject.toml:\n" + "\n".join(undeclared)


def test_the_operator_side_imports_only_the_dependencies_and_the_ops_extra() -> None:
    undeclared = undeclared_imports("lease_ops", set(declared("dependencies")) | set(declared("ops")))

    where = "not in the dependencies or the ops extra of shared/pyproject.toml:\n"
    assert not undeclared, where + "\n".join(undeclared)


def test_each_declared_requirement_is_imported_by_the_package_it_is_declared_for() -> None:
    dependencies, ops = set(declared("dependencies")), set(declared("ops"))

    assert dependencies <= imported_distributions("lease_core"), "dependencies lease_core never imports"
    assert ops <= imported_distributions("lease_ops"), "ops requirements lease_ops never imports"
    assert not dependencies & ops, "declared twice: a dependency is installed with or without the extra"


def test_every_declared_range_admits_the_pinned_version_and_every_declared_extra_exists() -> None:
    direct, everything = pinned(REQUIREMENTS / "dev.txt"), pinned(REQUIREMENTS / "constraints.txt")
    problems = []
    for name, requirement in {**declared("dependencies"), **declared("ops")}.items():
        if name not in direct or name not in everything:
            problems.append(f"{requirement}: not pinned in requirements/dev.txt and constraints.txt")
            continue
        version = pinned_version(direct[name])
        if pinned_version(everything[name]) != version:
            problems.append(f"{name}: dev.txt pins {version}, constraints.txt {pinned_version(everything[name])}")
        if not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement}: excludes the pinned {name}=={version}")
        provided = {canonicalize_name(extra) for extra in distribution(name).metadata.get_all("Provides-Extra") or []}
        missing = {canonicalize_name(extra) for extra in requirement.extras} - provided
        if missing:
            problems.append(f"{requirement}: {name} has no extra {', '.join(sorted(missing))}")

    assert not problems, "\n".join(problems)
