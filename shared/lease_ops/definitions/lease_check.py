"""Lint the lease flow of any Step Functions definition: no guarded work without a lease, no lease left behind.

Hand-written because no tool checks it: asl-validator and Step Functions' own validation check the schema
and that every ``Next`` exists, not which states hold a lease on which paths. The rules (docs/check.md):

1. every way into a guarded state holds an acquired lease, or one held around its Parallel or Map that runs one
   copy of the guarded work at a time (a Map with MaxConcurrency 1, a Parallel with one branch of guarded
   states), and no release inside that Parallel or Map gave it back;
2. no way from a lease that may be held reaches an end (Succeed, Fail, ``End``, an error no Catch takes,
   a Choice without a match) before a release: Catch paths and ``States.Timeout`` included;
3. the lease tasks keep the contract: ``LeaseStoreUnavailable`` retried, ``InvalidLeaseRequest`` never;
   no Catch, and no Default of a Choice that reads the lease answer, leads into a guarded state; an
   acquire inside an inline Map iteration or a Parallel branch does not name the execution alone as its
   holder; no release inside a Parallel or Map gives back the lease held around it;
4. guarded work that may still run (``States.Timeout``, an invoke error that does not say the function
   stopped) keeps its lease: it is not retried, and no release or acquire follows before a Wait.

Algorithm: a forward dataflow to a fixed point over (state, lease fact) pairs. A fact is ``none``,
``held``, ``maybe`` (after an error, or an answer nobody can read: perhaps held, perhaps not),
``answer`` (Acquire answered; held only if its status is 'acquired', which Choice rules may test) or
``running`` (held while guarded work that timed out may still run, until a Wait). A
worklist adds each pair once, so the cost is O(states * facts), and since the worklist is breadth-first
the first predecessor kept for a pair is a shortest path to it: the path each finding names.
Parallel branches and Map iterations are scopes of their own, analysed after the scope around them: each
starts with the lease of the scope around it, marked ``outside`` (``held`` if held on every way into its
Parallel or Map, ``maybe`` if on some, else ``none``): an outside lease is the outer scope's to give back, so
the branch's ends do not leak it, and a release inside turns it into ``none``.
"""

from __future__ import annotations

import fnmatch
import re
from collections import deque
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from lease_ops.definitions.workflow_builder import PROCESS_MAY_STILL_RUN_ERRORS

NONE, HELD, MAYBE, ANSWER, RUNNING = "none", "held", "maybe", "answer", "running"
STATE_TYPES = {"Task", "Pass", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"}
CATCHING_TYPES = {"Task", "Parallel", "Map"}  # the only states with Catch; an error elsewhere ends the execution
ACQUIRED = "acquired"
STORE_UNAVAILABLE, INVALID_REQUEST = "LeaseStoreUnavailable", "InvalidLeaseRequest"
DEFAULT_MAX_ATTEMPTS = 3  # a retrier without MaxAttempts retries 3 times
BOTH = frozenset({True, False})
# Errors after which guarded work may still be running: a timeout, or an invoke error that does not say the
# function stopped (https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html).
MAY_STILL_RUN = tuple(PROCESS_MAY_STILL_RUN_ERRORS)
SIMPLE_PATH = re.compile(r"\$(\.[A-Za-z_][A-Za-z0-9_-]*)*")
QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")  # a string literal of an intrinsic function
REFERENCE = re.compile(r"\$\$?[A-Za-z0-9_.\[\]]*")  # a path in an intrinsic function's arguments


class InvalidDefinition(ValueError):
    """The input is not a state machine definition this check can read."""


@dataclass(frozen=True)
class Lease:
    """What a path knows about the lease; ``status_path`` is where an ``answer``'s status is, ``work`` the
    guarded state that may still run (``running``)."""

    kind: str
    status_path: str = ""
    work: str = ""
    outside: bool = False  # the lease of the scope around this Parallel branch or Map iteration, not its own

    @property
    def may_be_held(self) -> bool:
        """Whether a lease of this scope's own may be held: one its ends must not leave behind."""
        return self.kind != NONE and not self.outside


NO_LEASE, HELD_LEASE, MAYBE_LEASE = Lease(NONE), Lease(HELD), Lease(MAYBE)
HELD_AROUND, MAYBE_AROUND = Lease(HELD, outside=True), Lease(MAYBE, outside=True)
WHY_NOT_HELD = {
    NONE: "no lease taken",
    MAYBE: "perhaps lost or never granted: an error or an unread answer on the way",
    ANSWER: "Acquire's answer is not tested for 'acquired' on the way",
    RUNNING: "earlier work may still run after a timeout",
}


@dataclass(frozen=True)
class LeaseTaskNames:
    """Globs of the function names that make a Task a lease task (FunctionName, or a function ARN Resource).

    The defaults match our functions (``<app_name>-<stage>-acquire``, what ``fragments`` prints) and a
    function named plainly ``acquire``.
    """

    acquire: tuple[str, ...] = ("acquire", "*-acquire")
    release: tuple[str, ...] = ("release", "*-release")
    renew: tuple[str, ...] = ("renew", "*-renew")

    def role_of(self, state: dict[str, Any]) -> str | None:
        name = invoked_function(state)
        if state.get("Type") != "Task" or name is None:
            return None
        for role, globs in (("acquire", self.acquire), ("release", self.release), ("renew", self.renew)):
            if any(fnmatch.fnmatchcase(name, glob) for glob in globs):
                return role
        return None


@dataclass(frozen=True)
class CheckReport:
    findings: list[str]
    states: int
    lease_tasks: dict[str, list[str]] = field(default_factory=dict)  # role -> state names


def invoked_function(state: dict[str, Any]) -> str | None:
    """The Lambda function a Task invokes, by name (not the ARN), if the definition says it literally."""
    resource = state.get("Resource")
    if not isinstance(resource, str):
        return None
    if ":states:::lambda:invoke" in resource:
        function = _parameters(state).get("FunctionName")
        return _function_name(function) if isinstance(function, str) else None
    if resource.startswith("arn:") and ":lambda:" in resource:
        return _function_name(resource)
    return None


def _parameters(state: dict[str, Any]) -> dict[str, Any]:
    parameters = state.get("Parameters")
    return parameters if isinstance(parameters, dict) else {}


def _function_name(reference: str) -> str:
    """``arn:…:function:name[:qualifier]``, ``account:function:name`` or ``name[:qualifier]`` → ``name``."""
    parts = reference.split(":")
    if "function" in parts[:-1]:
        return parts[parts.index("function") + 1]
    return parts[0]


def check_lease_flow(definition: Any, guarded: Collection[str], names: LeaseTaskNames | None = None) -> CheckReport:
    """Every finding of the four rules, one line each (none: the flow is sound). Raises ``InvalidDefinition``."""
    names = names or LeaseTaskNames()
    scopes = _validate(definition)
    known = {state_name for scope in scopes for state_name in scope.states}
    unknown = [name for name in guarded if name not in known]
    if unknown:
        raise InvalidDefinition(f"--guarded names no state of the definition: {', '.join(unknown)}")
    roles = {(id(scope), name): names.role_of(state) for scope in scopes for name, state in scope.states.items()}
    lease_tasks: dict[str, list[str]] = {}
    for scope in scopes:
        for name in scope.states:
            role = roles[id(scope), name]
            if role is not None:
                lease_tasks.setdefault(role, []).append(name)
    answer_paths = {
        _answer_of(state).status_path
        for scope in scopes
        for name, state in scope.states.items()
        if roles[id(scope), name] == "acquire" and _answer_of(state).kind == ANSWER
    }
    findings: list[str] = []
    if "acquire" not in lease_tasks:
        findings.append(
            "no lease task found: no Task invokes a function named like "
            f"{', '.join(names.acquire)} (name yours with --acquire-function)"
        )
    analysis = _Analysis(set(guarded), roles, answer_paths, findings)
    analysis.run(scopes[0])
    return CheckReport(findings, len(known), lease_tasks)


# -- reading the definition ---------------------------------------------------------------------------


@dataclass
class _Scope:
    """The top of the machine, a Parallel branch or a Map iteration: states with a StartAt of their own."""

    states: dict[str, Any]
    start: str
    where: str = ""  # e.g. "'PerItem'.ItemProcessor", for messages
    subject: str = "the execution"
    owner: str = ""  # "the Parallel 'Both'", "the Map 'PerItem'": the state that runs this scope
    start_lease: Lease = NO_LEASE  # set by the analysis of the scope around it
    shares_the_slot: str | None = None  # why a lease held around does not cover this scope's guarded states
    inline_map: str | None = None  # the inline Map whose iterations run this scope
    parallel: str | None = None  # the Parallel whose branch this is (or an inline Map inside such a branch)
    children: list[tuple[str, _Scope]] = field(default_factory=list)  # (Parallel or Map state, scope)


def _validate(definition: Any) -> list[_Scope]:
    """The scopes of the definition, the top one first; ``InvalidDefinition`` for anything unreadable."""
    if not isinstance(definition, dict):
        raise InvalidDefinition("a state machine definition is a JSON object with StartAt and States")
    if definition.get("QueryLanguage") == "JSONata":
        raise InvalidDefinition("JSONata definitions are not supported: the check reads JSONPath Choice rules")
    scopes: list[_Scope] = []
    top = _scope(definition, "")
    _collect(top, scopes)
    return scopes


def _scope(body: Any, where: str) -> _Scope:
    """``where`` is empty for the top of the machine."""
    named = where or "the definition"
    if not isinstance(body, dict) or not isinstance(body.get("States"), dict) or not body["States"]:
        raise InvalidDefinition(f"{named} has no States object")
    start = body.get("StartAt")
    if not isinstance(start, str) or start not in body["States"]:
        raise InvalidDefinition(f"{named}: StartAt {start!r} is not one of its states")
    return _Scope(body["States"], start, where)


def _collect(scope: _Scope, scopes: list[_Scope]) -> None:
    scopes.append(scope)
    for name, state in scope.states.items():
        _validate_state(scope, name, state)
        within = f"{scope.where} > " if scope.where else ""
        if state["Type"] == "Parallel":
            for index, branch in enumerate(state["Branches"]):
                child = _scope(branch, f"{within}{name!r}.Branches[{index}]")
                child.subject, child.owner = "the branch", f"the Parallel {name!r}"
                child.inline_map, child.parallel = scope.inline_map, name
                scope.children.append((name, child))
                _collect(child, scopes)
        elif state["Type"] == "Map":
            key = "ItemProcessor" if "ItemProcessor" in state else "Iterator"
            child = _scope(state.get(key), f"{within}{name!r}.{key}")
            config = state[key].get("ProcessorConfig")
            mode = config.get("Mode", "INLINE") if isinstance(config, dict) else "INLINE"
            child.subject, child.owner = "the iteration", f"the Map {name!r}"
            inline = mode != "DISTRIBUTED"  # a distributed child has its own execution
            child.inline_map, child.parallel = (name, scope.parallel) if inline else (None, None)
            scope.children.append((name, child))
            _collect(child, scopes)


def _validate_state(scope: _Scope, name: str, state: Any) -> None:
    if not isinstance(state, dict) or not isinstance(state.get("Type"), str) or state["Type"] not in STATE_TYPES:
        raise InvalidDefinition(f"state {name!r} has no known Type")
    if state.get("QueryLanguage") == "JSONata":
        raise InvalidDefinition(f"state {name!r} is JSONata: the check reads JSONPath Choice rules only")
    kind = state["Type"]
    targets: list[tuple[str, Any]] = []
    if kind == "Choice":
        choices = state.get("Choices")
        if not isinstance(choices, list) or not choices or not all(isinstance(rule, dict) for rule in choices):
            raise InvalidDefinition(f"Choice {name!r} has no Choices")
        targets += [(f"Choices[{index}].Next", rule.get("Next")) for index, rule in enumerate(choices)]
        if "Default" in state:
            targets.append(("Default", state["Default"]))
    elif kind not in ("Succeed", "Fail"):
        if "Next" in state:
            targets.append(("Next", state["Next"]))
        elif state.get("End") is not True:
            raise InvalidDefinition(f"state {name!r} has neither Next nor End")
    for field_name in ("Retry", "Catch"):
        rules = state.get(field_name, [])
        if not isinstance(rules, list) or not all(_error_rule(rule) for rule in rules):
            raise InvalidDefinition(f"{name!r}.{field_name} is not a list of rules with ErrorEquals")
    targets += [(f"Catch[{index}].Next", rule.get("Next")) for index, rule in enumerate(state.get("Catch", []))]
    for label, target in targets:
        if not isinstance(target, str) or target not in scope.states:
            raise InvalidDefinition(f"{name!r}.{label} {target!r} is not a state of its scope")
    if kind == "Parallel" and (not isinstance(state.get("Branches"), list) or not state["Branches"]):
        raise InvalidDefinition(f"Parallel {name!r} has no Branches")
    if kind == "Map" and not isinstance(state.get("ItemProcessor", state.get("Iterator")), dict):
        raise InvalidDefinition(f"Map {name!r} has no ItemProcessor")


def _error_rule(rule: Any) -> bool:
    """A retrier or catcher: string error names, and a whole number of attempts if any."""
    if not isinstance(rule, dict) or not isinstance(rule.get("ErrorEquals"), list):
        return False
    attempts = rule.get("MaxAttempts", DEFAULT_MAX_ATTEMPTS)
    return all(isinstance(error, str) for error in rule["ErrorEquals"]) and (
        isinstance(attempts, int) and not isinstance(attempts, bool)
    )


# -- what a state does to the lease --------------------------------------------------------------------


@dataclass(frozen=True)
class _Edge:
    label: str  # "Next", "Catch[0]", "Choices[1]", "Default", ... ("" for the end of a Succeed or Fail)
    target: str | None  # None: the scope ends here
    lease: Lease
    end: str = ""  # how the scope ends, with {state} and {subject} to fill in


def _answer_of(acquire: dict[str, Any]) -> Lease:
    """Where an acquire task leaves its status: ResultPath, then the ResultSelector's key for it."""
    result_path = acquire.get("ResultPath", "$")
    if acquire.get("OutputPath", "$") != "$" or not isinstance(result_path, str) or not _simple(result_path):
        return MAYBE_LEASE
    # The optimised integration wraps the function's answer in Payload; a callback's output or a plain function
    # ARN's result is the answer itself.
    wrapped = acquire["Resource"].endswith(":states:::lambda:invoke")
    status = "$.Payload.status" if wrapped else "$.status"
    selector = acquire.get("ResultSelector")
    if isinstance(selector, dict):
        keys = [key[:-2] for key, value in selector.items() if key.endswith(".$") and value == status]
        if not keys or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", keys[0]):
            return MAYBE_LEASE
        suffix = keys[0]
    else:
        suffix = status[2:]
    return Lease(ANSWER, f"$.{suffix}" if result_path == "$" else f"{result_path}.{suffix}")


def _simple(path: str) -> bool:
    return SIMPLE_PATH.fullmatch(path) is not None


def _disjoint(path: str, other: str) -> bool:
    """Neither path lies inside the other (simple dotted paths only: anything else may overlap)."""
    if not (_simple(path) and _simple(other)):
        return False
    mine, theirs = path.split(".")[1:], other.split(".")[1:]
    shorter = min(len(mine), len(theirs))
    return mine[:shorter] != theirs[:shorter]


def _keeps_answer(state: dict[str, Any], status_path: str) -> bool:
    """Whether the state's output still has the acquire answer where it was."""
    if state.get("InputPath", "$") != "$" or state.get("OutputPath", "$") != "$":
        return False
    if state["Type"] == "Wait":
        return True
    if state["Type"] == "Pass" and not {"Result", "Parameters", "ResultPath"} & set(state):
        return True
    if "ResultPath" not in state:
        return False  # the result replaces the whole input
    result_path = state["ResultPath"]
    return result_path is None or (isinstance(result_path, str) and _disjoint(result_path, status_path))


def _after_error(lease: Lease) -> Lease:
    """An error may mean the lease is gone (LeaseLost, a failed renewal) or was granted unseen: never 'held'."""
    if lease.kind in (NONE, RUNNING):
        return lease
    return MAYBE_AROUND if lease.outside else MAYBE_LEASE


def _catches_everything(state: dict[str, Any]) -> bool:
    # States.ALL catches every error a Catch can catch; States.Runtime and States.DataLimitExceeded no Catch
    # can (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html).
    return any("States.ALL" in rule["ErrorEquals"] for rule in state.get("Catch", []))


def _edges(name: str, state: dict[str, Any], lease: Lease, role: str | None, *, guarded: bool) -> Iterator[_Edge]:
    kind = state["Type"]
    if kind == "Choice":
        yield from _choice_edges(state, lease)
        return
    if kind == "Succeed":
        yield _Edge("", None, lease, "{subject} succeeds at {state}")
        return
    if kind == "Fail":
        yield _Edge("", None, lease, "{subject} fails at {state}")
        return
    through = lease if lease.kind != ANSWER or _keeps_answer(state, lease.status_path) else MAYBE_LEASE
    if kind == "Wait" and lease.kind == RUNNING:
        through = MAYBE_LEASE  # the wait is how long the work may run on: then the lease may go
    if role == "acquire":
        after, on_error = _answer_of(state), MAYBE_LEASE  # an acquire that failed may have written its lease
    elif role == "release":
        after = on_error = NO_LEASE  # released, or tried: the platform reclaims what a failed release kept
    else:
        after, on_error = through, _after_error(through)
    if "Next" in state:
        yield _Edge("Next", state["Next"], after)
    else:
        yield _Edge("End", None, after, "{subject} ends after {state} (End)")
    if kind in CATCHING_TYPES:
        catchers = state.get("Catch", [])
        still_running = set()
        if guarded and kind == "Task" and lease.may_be_held:
            still_running = {match[0] for error in MAY_STILL_RUN if (match := _first_match(catchers, error))}
        for index, rule in enumerate(catchers):
            if index in still_running:
                yield _Edge(f"Catch[{index}]", rule["Next"], Lease(RUNNING, work=name))
                if set(rule["ErrorEquals"]) <= set(MAY_STILL_RUN):
                    continue
            yield _Edge(f"Catch[{index}]", rule["Next"], on_error)
        if not _catches_everything(state):
            yield _Edge(
                "uncaught error", None, on_error, "an error {state} does not catch (no States.ALL) fails {subject}"
            )


def _possible(rule: Any, status_path: str) -> tuple[frozenset[bool], frozenset[bool]]:
    """Whether the lease can be acquired when ``rule`` holds, and when it does not (a three-valued reading)."""
    if not isinstance(rule, dict):
        return BOTH, BOTH
    if isinstance(rule.get("And"), list) or isinstance(rule.get("Or"), list):
        parts = [_possible(part, status_path) for part in rule.get("And", rule.get("Or"))]
        trues, falses = [part[0] for part in parts], [part[1] for part in parts]
        if "And" in rule:
            return frozenset(BOTH.intersection(*trues)), frozenset(frozenset().union(*falses))
        return frozenset(frozenset().union(*trues)), frozenset(BOTH.intersection(*falses))
    if isinstance(rule.get("Not"), dict):
        when_true, when_false = _possible(rule["Not"], status_path)
        return when_false, when_true
    if rule.get("Variable") == status_path and isinstance(rule.get("StringEquals"), str):
        if rule["StringEquals"] == ACQUIRED:
            return frozenset({True}), frozenset({False})
        return frozenset({False}), BOTH
    return BOTH, BOTH


def _refined(lease: Lease, possible: frozenset[bool]) -> Lease | None:
    """The fact on a Choice edge; None when the edge cannot be taken with this answer."""
    if lease.kind != ANSWER:
        return lease
    if not possible:
        return None
    if possible == BOTH:
        return lease
    return HELD_LEASE if True in possible else NO_LEASE


def _choice_edges(state: dict[str, Any], lease: Lease) -> Iterator[_Edge]:
    if lease.kind == ANSWER and (state.get("InputPath", "$") != "$" or state.get("OutputPath", "$") != "$"):
        lease = MAYBE_LEASE  # its rules read another document than the one the answer is in
    remaining = BOTH  # what the rules before this one, all false, still allow
    for index, rule in enumerate(state["Choices"]):
        when_true, when_false = _possible(rule, lease.status_path) if lease.kind == ANSWER else (BOTH, BOTH)
        refined = _refined(lease, remaining & when_true)
        remaining = remaining & when_false
        if refined is not None:
            yield _Edge(f"Choices[{index}]", rule["Next"], refined)
    refined = _refined(lease, remaining)
    if refined is None:
        return
    if "Default" in state:
        yield _Edge("Default", state["Default"], refined)
    else:
        yield _Edge("no match", None, refined, "Choice {state} matching no rule (no Default) fails {subject}")


def _variables(rule: dict[str, Any]) -> Iterator[str]:
    if isinstance(rule.get("Variable"), str):
        yield rule["Variable"]
    for part in [*rule.get("And", []), *rule.get("Or", []), *([rule["Not"]] if "Not" in rule else [])]:
        if isinstance(part, dict):
            yield from _variables(part)


def _first_match(rules: list[dict[str, Any]], error: str) -> tuple[int, dict[str, Any]] | None:
    """The retrier or catcher Step Functions applies to ``error``: the first whose ErrorEquals matches it.

    States.TaskFailed matches every error but States.Timeout
    (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html).
    """
    for index, rule in enumerate(rules):
        names = rule["ErrorEquals"]
        if error in names or "States.ALL" in names or ("States.TaskFailed" in names and error != "States.Timeout"):
            return index, rule
    return None


# -- the analysis --------------------------------------------------------------------------------------

_Fact = tuple[str, Lease]


@dataclass
class _Analysis:
    guarded: set[str]
    roles: dict[tuple[int, str], str | None]
    answer_paths: set[str]
    findings: list[str]

    def run(self, scope: _Scope) -> None:
        prefix = f"in {scope.where}: " if scope.where else ""
        self._contract(scope, prefix)
        parents: dict[_Fact, tuple[_Fact, str] | None] = {(scope.start, scope.start_lease): None}
        queue = deque(parents)
        reported: set[tuple[str, str]] = set()
        facts_at: dict[str, set[Lease]] = {}
        while queue:
            fact = queue.popleft()
            name, lease = fact
            facts_at.setdefault(name, set()).add(lease)
            if name in self.guarded and ("guard", name) not in reported:
                if lease.kind != HELD:
                    reported.add(("guard", name))
                    self.findings.append(
                        f"{prefix}guarded state {name!r} is reachable without an acquired lease "
                        f"({WHY_NOT_HELD[lease.kind]}): {_path(parents, fact)}"
                    )
                elif lease.outside and scope.shares_the_slot is not None:
                    reported.add(("guard", name))
                    self.findings.append(
                        f"{prefix}guarded state {name!r} runs under the lease held around {scope.shares_the_slot}: "
                        f"{_path(parents, fact)}"
                    )
            role = self.roles[id(scope), name]
            if role == "release" and lease.outside and lease.kind != NONE and ("outside", name) not in reported:
                reported.add(("outside", name))
                self.findings.append(
                    f"{prefix}lease task {name!r} (release) gives back the lease held around {scope.owner} from "
                    f"inside it: what follows there, and after it, runs without the lease: {_path(parents, fact)}"
                )
            if lease.kind == RUNNING and role in ("acquire", "release") and ("running", name) not in reported:
                reported.add(("running", name))
                self.findings.append(
                    f"{prefix}lease task {name!r} ({role}) follows guarded state {lease.work!r}, which may still be "
                    "running (it timed out, or its invoke failed without saying it stopped), with no Wait on the "
                    f"way: {_path(parents, fact)}"
                )
            for edge in _edges(name, scope.states[name], lease, role, guarded=name in self.guarded):
                if edge.target is None:
                    if edge.lease.may_be_held and (edge.end, name) not in reported:
                        reported.add((edge.end, name))
                        ends = edge.end.format(state=repr(name), subject=scope.subject)
                        self.findings.append(
                            f"{prefix}{ends} while the lease may still be held, with no release on the way: "
                            f"{_path(parents, fact)}"
                        )
                    continue
                successor = (edge.target, edge.lease)
                if successor not in parents:
                    parents[successor] = (fact, edge.label)
                    queue.append(successor)
        for state_name, child in scope.children:
            facts = facts_at.get(state_name)
            if facts is None:
                continue  # never entered
            if all(fact.kind == HELD for fact in facts):
                child.start_lease = HELD_AROUND
                inherited = any(fact.outside for fact in facts)
                child.shares_the_slot = (scope.shares_the_slot if inherited else None) or self._sharing(
                    scope, state_name
                )
            else:
                child.start_lease = NO_LEASE if all(fact.kind == NONE for fact in facts) else MAYBE_AROUND
            self.run(child)

    def _sharing(self, scope: _Scope, name: str) -> str | None:
        """Why a lease held around the Parallel or Map ``name`` would be shared by copies of the guarded work."""
        state = scope.states[name]
        if state["Type"] == "Map":
            if state.get("MaxConcurrency") == 1:
                return None
            return (
                f"the Map {name!r}, whose iterations may run at once (no MaxConcurrency 1): several copies of the "
                "work would share one slot; take the lease inside each iteration, or set MaxConcurrency to 1"
            )
        guarding = sum(1 for owner, child in scope.children if owner == name and self._reaches_guarded(child))
        if guarding <= 1:
            return None
        return (
            f"the Parallel {name!r}, whose branches run at once ({guarding} of them reach guarded states): several "
            "copies of the work would share one slot; take a lease in each branch, or guard one branch only"
        )

    def _reaches_guarded(self, scope: _Scope) -> bool:
        """Whether the scope, or one nested in it, has a guarded state (whether reachable or not: the safe side)."""
        return bool(self.guarded & scope.states.keys()) or any(
            self._reaches_guarded(child) for _, child in scope.children
        )

    def _contract(self, scope: _Scope, prefix: str) -> None:
        """Rule 3, read off each state: lease tasks' Retry, Catch and Default into guarded states, Map holders."""
        for name, state in scope.states.items():
            for index, rule in enumerate(state.get("Catch", [])):
                if rule["Next"] in self.guarded:
                    self.findings.append(
                        f"{prefix}{name!r}.Catch[{index}] leads into guarded state {rule['Next']!r}: "
                        "an error must never start the work"
                    )
            if (
                state["Type"] == "Choice"
                and state.get("Default") in self.guarded
                and any(path in self.answer_paths for rule in state["Choices"] for path in _variables(rule))
            ):
                self.findings.append(
                    f"{prefix}Choice {name!r} reads the lease answer and its Default leads into guarded state "
                    f"{state['Default']!r}: only an explicit 'acquired' may start the work"
                )
            role = self.roles[id(scope), name]
            if role is not None:
                self._retries(prefix, name, state, role)
            if name in self.guarded and state["Type"] == "Task":
                by_retrier: dict[int, list[str]] = {}
                for error in MAY_STILL_RUN:
                    match = _first_match(state.get("Retry", []), error)
                    if match is not None and match[1].get("MaxAttempts", DEFAULT_MAX_ATTEMPTS) > 0:
                        by_retrier.setdefault(match[0], []).append(error)
                if by_retrier:
                    retried = "; ".join(f"{', '.join(errors)} (Retry[{i}])" for i, errors in by_retrier.items())
                    self.findings.append(
                        f"{prefix}guarded state {name!r} retries {retried}: the first attempt may still be running, "
                        "and the retry would run beside it under one lease"
                    )
            if role == "acquire" and scope.inline_map is not None and _shared_holder(state, words_tell_apart=False):
                self.findings.append(
                    f"{prefix}lease task {name!r} takes the execution as its holder inside the inline Map "
                    f"{scope.inline_map!r}: its iterations would share one lease (one slot); give each iteration "
                    "a holder of its own (e.g. through ItemSelector, with $$.Map.Item.Index)"
                )
            elif role == "acquire" and scope.parallel is not None and _shared_holder(state, words_tell_apart=True):
                self.findings.append(
                    f"{prefix}lease task {name!r} takes the execution alone as its holder inside the Parallel "
                    f"{scope.parallel!r}: its branches would share one lease (one slot); give each branch a holder "
                    "of its own (e.g. States.Format('{}/left', $$.Execution.Id))"
                )

    def _retries(self, prefix: str, name: str, state: dict[str, Any], role: str) -> None:
        retried = _first_match(state.get("Retry", []), STORE_UNAVAILABLE)
        if retried is None or retried[1].get("MaxAttempts", DEFAULT_MAX_ATTEMPTS) < 1:
            which = "no Retry matches it" if retried is None else f"Retry[{retried[0]}] gives it MaxAttempts 0"
            self.findings.append(
                f"{prefix}lease task {name!r} ({role}) does not retry {STORE_UNAVAILABLE} ({which}): "
                "a short store outage would fail the execution"
            )
        retried = _first_match(state.get("Retry", []), INVALID_REQUEST)
        if retried is not None and retried[1].get("MaxAttempts", DEFAULT_MAX_ATTEMPTS) > 0:
            self.findings.append(
                f"{prefix}lease task {name!r} ({role}) retries {INVALID_REQUEST} (Retry[{retried[0]}]): a bad "
                "request fails the same way every time; put a retrier with MaxAttempts 0 for it first"
            )


def _shared_holder(state: dict[str, Any], *, words_tell_apart: bool) -> bool:
    """Whether an acquire's holder is the same in every copy of its scope: a constant, or built from the
    execution's own fields (``$$.Execution.*``) and literals only. Literal words tell Parallel branches apart
    (``'{}/left'``: ``words_tell_apart``), not Map iterations, which all run the same states."""
    payload = _parameters(state).get("Payload")
    if not isinstance(payload, dict):
        return False
    if "holder" in payload:
        return not words_tell_apart
    expression = payload.get("holder.$")
    if not isinstance(expression, str) or "$$.Execution.Id" not in expression:
        return False
    literals = QUOTED.findall(expression)
    references = REFERENCE.findall(QUOTED.sub("''", expression))
    if not all(reference.startswith("$$.Execution.") for reference in references):
        return False  # e.g. $$.Map.Item.Index, or a field of the input: perhaps one of each copy's own
    return not (words_tell_apart and any(re.search(r"[A-Za-z0-9]", text.replace("{}", "")) for text in literals))


def _path(parents: dict[_Fact, tuple[_Fact, str] | None], fact: _Fact) -> str:
    """``A -> B -Catch[0]-> C``: the shortest way the analysis found from the scope's start to ``fact``."""
    steps = [fact[0]]
    link = parents[fact]
    while link is not None:
        previous, label = link
        steps.append(" -> " if label == "Next" else f" -{label}-> ")
        steps.append(previous[0])
        link = parents[previous]
    return "".join(reversed(steps))
