"""The README and docs/: short where they must be, every link and command real, no figure or status by hand.

The README is what a user reads first, and the depth lives in docs/. These tests keep the two honest: the
README stays short, every relative link (and anchor) leads somewhere, every `make` target and every
`python -m lease_ops` command and flag the docs show exists, and an excerpt of a file is that file's text.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from lease_ops.cli import build_parser
from lease_ops.config.chalice_apps import REPOSITORY_ROOT

README = REPOSITORY_ROOT / "README.md"
DOCS = REPOSITORY_ROOT / "docs"
MARKDOWN = [README, *sorted(DOCS.glob("*.md"))]
README_LIMIT_BYTES = 12 * 1024

FENCE = re.compile(r"^```.*?^```[ \t]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
EXCERPT = re.compile(r"^<!-- excerpt of (\S+) -->\n```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
ISSUE_NUMBER = re.compile(r"\bissues?\s*#?\d+\b|(?<![\w/])#\d+\b", re.IGNORECASE)
MAKE_TARGET = re.compile(r"(?<![\w-])make ([a-z][a-z-]*)")
LEASE_OPS = re.compile(r"python -m lease_ops ([a-z-]+)([^\n`]*)")
MAKE_WITH_ARGS = re.compile(r"(?<![\w-])make ([a-z][a-z-]*)[^\n`|]*?\bARGS=(\"[^\"]*\"|'[^']*'|\S+)")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]*")


def relative(path: Path) -> str:
    return str(path.relative_to(REPOSITORY_ROOT))


def without_code(text: str) -> str:
    """The prose of a markdown text: fenced blocks and inline code removed."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def code_of(text: str) -> list[str]:
    """Every fenced block and inline code span of a markdown text."""
    blocks = FENCE.findall(text)
    return blocks + INLINE_CODE.findall(FENCE.sub("", text))


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, each space a hyphen."""
    text = INLINE_CODE.sub(lambda match: match.group(0).strip("`"), heading).strip().lower()
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors_of(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for match in HEADING.finditer(FENCE.sub("", path.read_text())):
        base = anchor(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        anchors.add(base if count == 0 else f"{base}-{count}")
    return anchors


def relative_links(path: Path) -> Iterator[tuple[str, Path, str]]:
    """(link as written, the file it points at, its anchor or "") for every link that is not a URL."""
    for target in LINK.findall(without_code(path.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):
            continue  # https:, mailto:
        file_part, _, fragment = target.partition("#")
        yield target, (path.parent / file_part).resolve() if file_part else path, fragment


def makefile_targets() -> set[str]:
    text = (REPOSITORY_ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z-]*):", text, re.MULTILINE))


def lease_ops_commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (commands,) = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return dict(commands.choices)


def options_of(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def options_of_help(main: object) -> set[str]:
    """The options a command's ``main(["--help"])`` prints (for the benchmarks, whose parser is built in main)."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), pytest.raises(SystemExit):
        main(["--help"])  # type: ignore[operator]
    return set(FLAG.findall(printed.getvalue()))


def make_target_options() -> dict[str, set[str]]:
    """The options `make <target> ARGS=...` passes on, for each target that runs a command with options."""
    from benchmarks.__main__ import main as bench_main
    from benchmarks.burst.__main__ import parser as burst_parser

    options = {name: options_of(parser) for name, parser in lease_ops_commands().items()}
    options["bench"] = options_of_help(bench_main)
    options["burst"] = options_of(burst_parser())
    return options


def flags(arguments: str) -> set[str]:
    return set(FLAG.findall(arguments.strip("\"'")))


def test_the_readme_is_at_most_12_kb() -> None:
    size = len(README.read_bytes())

    assert size <= README_LIMIT_BYTES, f"README.md is {size} bytes; move depth into docs/"


@pytest.mark.parametrize("path", MARKDOWN, ids=relative)
def test_every_relative_link_points_at_a_file_that_exists(path: Path) -> None:
    broken = [link for link, target, _ in relative_links(path) if not target.exists()]

    assert not broken, f"{relative(path)} links to missing files: {broken}"


@pytest.mark.parametrize("path", MARKDOWN, ids=relative)
def test_every_anchor_of_a_relative_link_names_a_heading_of_its_file(path: Path) -> None:
    broken = [
        link
        for link, target, fragment in relative_links(path)
        if fragment and target.suffix == ".md" and target.exists() and fragment not in anchors_of(target)
    ]

    assert not broken, f"{relative(path)} links to headings that do not exist: {broken}"


@pytest.mark.parametrize("path", MARKDOWN, ids=relative)
def test_no_table_is_keyed_by_issue_number(path: Path) -> None:
    rows = [
        line
        for line in path.read_text().splitlines()
        if line.lstrip().startswith("|") and ISSUE_NUMBER.search(INLINE_CODE.sub("", line))
    ]

    assert not rows, f"{relative(path)} has table rows by issue number: {rows}"


def test_the_docs_index_links_every_page_of_docs() -> None:
    index = DOCS / "README.md"
    linked = {target for _, target, _ in relative_links(index)}

    assert not [relative(page) for page in MARKDOWN[1:] if page != index and page.resolve() not in linked]


@pytest.mark.parametrize("path", MARKDOWN, ids=relative)
def test_every_make_target_the_docs_show_is_in_the_makefile(path: Path) -> None:
    targets = makefile_targets()
    shown = {target for code in code_of(path.read_text()) for target in MAKE_TARGET.findall(code)}

    assert shown <= targets, f"{relative(path)} shows make targets the Makefile lacks: {sorted(shown - targets)}"


@pytest.mark.parametrize("path", MARKDOWN, ids=relative)
def test_every_lease_ops_command_and_flag_the_docs_show_exists(path: Path) -> None:
    commands = lease_ops_commands()
    unknown = []
    for code in code_of(path.read_text()):
        for command, arguments in LEASE_OPS.findall(code):
            if command not in commands:
                unknown.append(f"python -m lease_ops {command}")
            else:
                unknown += [f"{command} {flag}" for flag in flags(arguments) - options_of(commands[command])]

    assert not unknown, f"{relative(path)} shows what `python -m lease_ops` does not have: {unknown}"


@pytest.mark.parametrize("path", MARKDOWN, ids=relative)
def test_every_flag_passed_to_a_make_target_in_args_exists(path: Path) -> None:
    options = make_target_options()
    text = path.read_text()
    shown = [match for code in code_of(text) for match in MAKE_WITH_ARGS.findall(code)]
    # A table row that starts with a make target and lists the ARGS= it takes.
    for row in re.findall(r"^\| `make ([a-z-]+)` \|(.*)$", text, re.MULTILINE):
        shown += [(row[0], arguments) for arguments in re.findall(r"ARGS=(\"[^\"]*\"|'[^']*'|[^`\s]+)", row[1])]
    unknown = [
        f"make {target} ARGS={arguments}"
        for target, arguments in shown
        if target in options and not flags(arguments) <= options[target] | {"--help"}
    ]

    assert not unknown, f"{relative(path)} passes options its targets do not take: {unknown}"


@pytest.mark.parametrize("path", MARKDOWN, ids=relative)
def test_every_excerpt_the_docs_show_is_the_text_of_the_file_it_names(path: Path) -> None:
    for name, block in EXCERPT.findall(path.read_text()):
        source = [line.rstrip() for line in (REPOSITORY_ROOT / name).read_text().splitlines()]
        wanted = [line.rstrip() for line in block.splitlines() if line.strip()]
        remaining = iter(source)
        missing = [line for line in wanted if not any(line == candidate for candidate in remaining)]

        assert not missing, f"{relative(path)}: its excerpt of {name} has lines that file lacks: {missing}"


def test_the_readme_shows_the_real_code_of_a_workload() -> None:
    excerpts = dict(EXCERPT.findall(README.read_text()))

    assert {"analytics_app/app.py", "platform.toml"} <= excerpts.keys()


def test_every_metric_the_lease_lambdas_emit_is_described_in_the_observability_doc() -> None:
    from lease_core import observability

    emitted = {
        value for name, value in vars(observability).items() if name.isupper() and str(value).startswith("Lease")
    }
    described = set(re.findall(r"^\| `(Lease\w+)` \|", (DOCS / "observability.md").read_text(), re.MULTILINE))

    assert emitted, "no metric names found in lease_core.observability"
    assert described == emitted


QUOTED_CONSTANT = re.compile(r"`([A-Z][A-Z0-9_]+)` \(([0-9][0-9,]*)\)")


def core_constants() -> dict[str, object]:
    """Every upper-case module constant of ``lease_core``, by name."""
    import importlib
    import pkgutil

    import lease_core

    found: dict[str, object] = {}
    for module in pkgutil.iter_modules(lease_core.__path__):
        found |= {
            name: value
            for name, value in vars(importlib.import_module(f"lease_core.{module.name}")).items()
            if name.isupper() and isinstance(value, int)
        }
    return found


@pytest.mark.parametrize("path", MARKDOWN, ids=relative)
def test_every_core_constant_the_docs_quote_with_its_value_has_that_value(path: Path) -> None:
    constants = core_constants()
    for name, value in QUOTED_CONSTANT.findall(path.read_text()):
        assert name in constants, f"{relative(path)} quotes {name}, which lease_core does not define"
        assert constants[name] == int(value.replace(",", "")), f"{relative(path)}: {name} is {constants[name]}"
