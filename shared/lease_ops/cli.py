"""`python -m lease_ops`: every operator command behind the Makefile, each with --help.

Errors the operator can fix end the command with one line on stderr and a
non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from rich.console import Console

from lease_core.settings import WAIT_MODES
from lease_ops.aws.aws_target import AwsTarget
from lease_ops.config.platform_config import PLATFORM_FILE, PlatformConfig, load_platform_config, with_overrides
from lease_ops.errors import OperatorError

Handler = Callable[[argparse.Namespace, PlatformConfig, Console], None]
# A command that reads no platform.toml (``check`` runs in any team's CI): it returns its exit code.
Standalone = Callable[[argparse.Namespace], int]


def _target(arguments: argparse.Namespace, config: PlatformConfig, account_id: str | None = None) -> AwsTarget:
    return AwsTarget(config.region, arguments.endpoint_url, account_id=account_id)


def cmd_bootstrap(arguments: argparse.Namespace, config: PlatformConfig, console: Console) -> None:
    from lease_ops.aws.table import plan_lease_table

    target = _target(arguments, config)
    plan = plan_lease_table(
        target.client("dynamodb"),
        config.table,
        platform=config.platform,
        deletion_protection=arguments.deletion_protection,
        adopt=arguments.adopt,
    )
    plan.execute(console, dry_run=arguments.dry_run)


def cmd_deploy(arguments: argparse.Namespace, config: PlatformConfig, console: Console) -> None:
    from lease_ops.provisioning.deploy import deploy, preview_deploy

    if arguments.dry_run:
        preview_deploy(_target(arguments, config), config, console)
    else:
        deploy(_target(arguments, config), config, console)


def cmd_caps(arguments: argparse.Namespace, config: PlatformConfig, console: Console) -> None:
    from lease_ops.provisioning.caps import apply_configured_caps

    apply_configured_caps(_target(arguments, config), config, console, dry_run=arguments.dry_run)


def cmd_workflows(arguments: argparse.Namespace, config: PlatformConfig, console: Console) -> None:
    from lease_ops.provisioning.workflows import WorkflowProvisioner

    target = _target(arguments, config)
    provisioners = [WorkflowProvisioner(target, config, w) for w in config.select(arguments.workload)]
    plans = [provisioner.plan() for provisioner in provisioners]  # plan everything before changing anything
    for provisioner in provisioners:
        for warning in provisioner.warnings:
            console.print(f"[yellow]warning:[/yellow] {warning}", markup=True, highlight=False)
    for plan in plans:
        plan.execute(console, dry_run=arguments.dry_run)


def cmd_render(arguments: argparse.Namespace, config: PlatformConfig, console: Console) -> None:
    from lease_ops.provisioning.workflows import WorkflowProvisioner

    target = _target(arguments, config, account_id=arguments.account_id)
    config = config.with_wait_mode(arguments.wait_mode)
    arguments.out.mkdir(parents=True, exist_ok=True)
    for workload in config.select(arguments.workload):
        provisioner = WorkflowProvisioner(target, config, workload)
        path = arguments.out / f"{config.state_machine_name(workload)}.asl.json"
        path.write_text(json.dumps(provisioner.definition(), indent=2) + "\n")
        for warning in provisioner.warnings if not arguments.quiet else []:
            console.print(f"[yellow]warning:[/yellow] {warning}")
        console.print(f"rendered {path}")


def cmd_fragments(arguments: argparse.Namespace, config: PlatformConfig, console: Console) -> None:
    from lease_ops.provisioning.fragments import workload_fragments

    config = config.with_wait_mode(arguments.wait_mode)
    document, warnings = workload_fragments(
        _target(arguments, config, account_id=arguments.account_id),
        config,
        config.workload(arguments.workload),
        work=arguments.work,
        after_release=arguments.after_release,
        drain_seconds=arguments.drain_seconds,
    )
    for warning in warnings:  # stdout is the JSON alone, ready to redirect into a file
        print(f"warning: {warning}", file=sys.stderr)
    print(json.dumps(document, indent=2))


def cmd_check(arguments: argparse.Namespace) -> int:
    from lease_ops.definitions.lease_check import InvalidDefinition, LeaseTaskNames, check_lease_flow

    source = "<stdin>" if str(arguments.definition) == "-" else str(arguments.definition)
    defaults = LeaseTaskNames()
    names = LeaseTaskNames(
        acquire=tuple(arguments.acquire_function or defaults.acquire),
        release=tuple(arguments.release_function or defaults.release),
        renew=tuple(arguments.renew_function or defaults.renew),
    )
    try:
        text = sys.stdin.read() if source == "<stdin>" else arguments.definition.read_text(encoding="utf-8")
        report = check_lease_flow(json.loads(text), arguments.guarded, names)
    except OSError as exc:
        print(f"error: cannot read {source}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except InvalidDefinition as exc:
        print(f"error: {source}: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # json's errors, and bytes that are not UTF-8
        print(f"error: {source} is not JSON: {exc}", file=sys.stderr)
        return 2
    except RecursionError:
        print(f"error: {source} is nested too deeply to read", file=sys.stderr)
        return 2
    for finding in report.findings:
        print(f"{source}: {finding}")
    if report.findings:
        return 1
    tasks = "; ".join(f"{role}: {', '.join(states)}" for role, states in report.lease_tasks.items())
    print(f"{source}: OK: lease flow of {report.states} states (guarded: {', '.join(arguments.guarded)}; {tasks})")
    return 0


def cmd_vendor(arguments: argparse.Namespace, config: PlatformConfig, console: Console) -> None:
    from lease_ops.provisioning.vendoring import vendor_runtime

    for app in config.app_folders:
        copy = vendor_runtime(config.app_dir(app))
        console.print(f"vendored lease_core into {copy.parent.relative_to(config.root)}/")


def cmd_package(arguments: argparse.Namespace, config: PlatformConfig, console: Console) -> None:
    from lease_ops.packaging.chalice_package import package

    # chalice package needs a region, never an account: no STS call.
    package(
        _target(arguments, config, account_id="000000000000"),
        config,
        arguments.out,
        console,
        s3_bucket=arguments.s3_bucket,
    )


def cmd_run(arguments: argparse.Namespace, config: PlatformConfig, console: Console) -> None:
    from lease_ops.provisioning.run_executions import run_executions

    run_executions(
        _target(arguments, config),
        config,
        console,
        executions=arguments.executions,
        workloads=config.select(arguments.workload),
        seed=arguments.seed,
        timeout_seconds=arguments.timeout,
    )


def cmd_demo(arguments: argparse.Namespace, config: PlatformConfig, console: Console) -> None:
    from lease_ops.demo.run import DemoOptions, run_demo

    for name, _ in arguments.executions:
        config.workload(name)
    run_demo(
        config.with_wait_mode(arguments.wait_mode),
        DemoOptions(
            executions=dict(arguments.executions),
            time_scale=arguments.time_scale,
            fail_fraction=arguments.fail_fraction,
            seed=arguments.seed,
            out=arguments.out,
        ),
        console,
    )


def cmd_local(arguments: argparse.Namespace, config: PlatformConfig, console: Console) -> None:
    from lease_ops.sandbox.local_api import serve_local

    for name, _ in arguments.executions:
        config.workload(name)
    serve_local(
        config.with_wait_mode(arguments.wait_mode), console, port=arguments.port, running=dict(arguments.executions)
    )


def cmd_sandbox(arguments: argparse.Namespace, config: PlatformConfig, console: Console) -> None:
    from lease_ops.sandbox.server import serve_sandbox

    serve_sandbox(config, console, port=arguments.port, time_scale=arguments.time_scale)  # None: the defaults


def cmd_chaos(arguments: argparse.Namespace, config: PlatformConfig, console: Console) -> None:
    from lease_ops.chaos.suite import FULL, QUICK, run_suite

    run_suite(
        config.with_wait_mode(arguments.wait_mode),
        console,
        size=QUICK if arguments.quick else FULL,
        names=arguments.scenario or [],
        seed=arguments.seed,
        out=arguments.out,
        item_layout=arguments.item_layout,
    )


def cmd_destroy(arguments: argparse.Namespace, config: PlatformConfig, console: Console) -> None:
    from lease_ops.provisioning.destroy import destroy

    destroy(
        _target(arguments, config),
        config,
        console,
        destroy_table=arguments.destroy_table,
        dry_run=arguments.dry_run,
        force=arguments.force,
    )


def cmd_watch(arguments: argparse.Namespace, config: PlatformConfig, console: Console) -> None:
    from lease_ops.observability.watch_view import run_watch

    if console.is_terminal:  # redrawn in place: notes must wrap at the terminal's width, not be cropped
        console = Console(highlight=False)
    try:
        run_watch(
            _target(arguments, config),
            config,
            console,
            interval=arguments.interval,
            once=arguments.once,
            rescan_seconds=arguments.rescan,
        )
    except KeyboardInterrupt:
        return  # Ctrl-C is how a watch ends: exit 0, no traceback


def cmd_dashboard(arguments: argparse.Namespace, config: PlatformConfig, console: Console) -> None:
    from lease_ops.provisioning.dashboard import dashboard_body, plan_dashboard

    if arguments.dry_run:
        console.print(json.dumps(dashboard_body(config), indent=2), markup=False)
    plan_dashboard(_target(arguments, config), config).execute(console, dry_run=arguments.dry_run)


def cmd_new_workload(arguments: argparse.Namespace, config: PlatformConfig, console: Console) -> None:
    from lease_ops.scaffold.new_workload import new_workload

    new_workload(
        arguments.platform_file,
        console,
        name=arguments.name,
        cap=arguments.cap,
        ttl=arguments.ttl,
        wait_mode=arguments.wait_mode,
    )


def _account_id(text: str) -> str:
    if not re.fullmatch(r"[0-9]{12}", text):
        raise argparse.ArgumentTypeError(f"an AWS account id is 12 digits, got {text!r}")
    return text


def _bucket(text: str) -> str:
    # https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", text):
        raise argparse.ArgumentTypeError(f"not an S3 bucket name: {text!r}")
    return text


def _seconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole seconds, got {text!r}") from None
    # https://docs.aws.amazon.com/step-functions/latest/dg/state-wait.html: at most 99999999 seconds.
    if not 0 <= value <= 99_999_999:
        raise argparse.ArgumentTypeError(f"expected 0 to 99999999 seconds, got {value}")
    return value


def _state_name(text: str) -> str:
    # https://docs.aws.amazon.com/step-functions/latest/dg/statemachine-structure.html: at most 80 characters.
    if not 1 <= len(text) <= 80 or not text.isprintable():
        raise argparse.ArgumentTypeError(f"a state name is 1 to 80 printable characters, got {text!r}")
    return text


def _state_names(text: str) -> list[str]:
    return [_state_name(name.strip()) for name in text.split(",")]


def _workload_count(text: str) -> tuple[str, int]:
    name, separator, count = text.partition("=")
    if not separator:
        raise argparse.ArgumentTypeError(f"expected WORKLOAD=N, e.g. analytics=60, got {text!r}")
    return name, _positive(count)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {value}")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


class OneLineErrorParser(argparse.ArgumentParser):
    """A usage mistake is one line on stderr and exit 2, like every other error of these commands."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    common = OneLineErrorParser(add_help=False)
    group = common.add_argument_group("where (default: platform.toml, then REGION/TABLE/STAGE in the environment)")
    group.add_argument("--region", help="AWS region, e.g. eu-central-1")
    group.add_argument("--table", help="name of the shared lease table")
    group.add_argument("--stage", help="Chalice stage of the apps")
    group.add_argument(
        "--endpoint-url", help="send every AWS call here (default: AWS_ENDPOINT_URL), e.g. a moto server"
    )
    group.add_argument("--platform-file", type=Path, default=PLATFORM_FILE, help="platform configuration file")

    parser = OneLineErrorParser(
        prog="python -m lease_ops",
        description="Provision, deploy, run and tear down the shared lease platform.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=OneLineErrorParser)

    def command(name: str, handler: Handler, description: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=description, description=description)
        sub.set_defaults(handler=handler)
        return sub

    bootstrap = command("bootstrap", cmd_bootstrap, "Create or update the shared lease table (safe to rerun).")
    bootstrap.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    bootstrap.add_argument(
        "--no-deletion-protection",
        dest="deletion_protection",
        action="store_false",
        help="leave the table without deletion protection (default: protected)",
    )
    bootstrap.add_argument(
        "--adopt",
        action="store_true",
        help="use an existing table this platform did not create: set only TTL on 'ttl' and tag it, leave its "
        "billing, encryption, deletion protection and backups as they are (default: refuse such a table)",
    )
    command("vendor", cmd_vendor, "Copy shared/lease_core into each app's vendor/ (what chalice packages).")
    deploy = command(
        "deploy", cmd_deploy, "Vendor the core, `chalice deploy` every app, then write the configured caps."
    )
    deploy.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")
    caps = command("caps", cmd_caps, "Write each workload's configured cap (LEASE_MAX_CONCURRENCY) into the table.")
    caps.add_argument("--dry-run", action="store_true", help="print old → new, change nothing")
    workflows = command("workflows", cmd_workflows, "Create or update each workload's IAM role and state machine.")
    workflows.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    workflows.add_argument("--workload", action="append", help="only this workload (repeatable)")
    render = command("render", cmd_render, "Write each workload's state machine definition to a file.")
    render.add_argument("--out", type=Path, default=Path("out/definitions"), help="folder (default: out/definitions)")
    render.add_argument("--account-id", type=_account_id, help="account of derived ARNs; skips STS")
    render.add_argument("--workload", action="append", help="only this workload (repeatable)")
    render.add_argument("--quiet", action="store_true", help="no warnings about derived ARNs")
    _wait_mode_option(render)
    fragments = command(
        "fragments",
        cmd_fragments,
        "Print a workload's lease states (acquire, wait, release, release on the failure path) as ASL JSON, with "
        "the contract for splicing them into your own state machine: the same states our workflows are built from.",
    )
    fragments.add_argument("--workload", required=True, help="the workload (platform.toml) whose lease the states take")
    fragments.add_argument(
        "--work",
        type=_state_name,
        default="Process",
        metavar="STATE",
        help="your first guarded state, where CheckLease sends an acquired lease (default Process)",
    )
    fragments.add_argument(
        "--after-release",
        type=_state_name,
        default="Complete",
        metavar="STATE",
        help="where Release goes on to: a state of yours, or Complete, a Succeed the fragments include (default)",
    )
    fragments.add_argument(
        "--drain-seconds",
        type=_seconds,
        metavar="SECONDS",
        help="how long your work may run on after Step Functions gave up on it (a timeout, an invoke error that "
        "does not say it stopped): WaitForProcessToStop keeps the lease that long before releasing it "
        "(default: the workload's process Lambda timeout; 0: no such state)",
    )
    fragments.add_argument("--account-id", type=_account_id, help="account of derived ARNs; skips STS")
    fragments.add_argument(
        "--wait-mode",
        choices=WAIT_MODES,
        help="poll (Wait, ask again) or handoff (queue, be handed a slot); default: the workload's in platform.toml",
    )
    check_description = (
        "Check the lease flow of any state machine definition, offline: every guarded state is reached only with "
        "an acquired lease, every way from a lease to an end (Catch and timeouts included) passes a release, the "
        "lease tasks retry LeaseStoreUnavailable and never InvalidLeaseRequest, and no Catch or lease-check Default "
        "leads into a guarded state; Parallel branches and Map iterations included. Exit 0 and one OK line, 1 and "
        "one line per finding, 2 on a file it cannot read. Needs no platform.toml and no AWS."
    )
    check = commands.add_parser(
        "check", help="Lint the lease flow of a state machine definition.", description=check_description
    )
    check.set_defaults(standalone=cmd_check)
    check.add_argument(
        "definition", type=Path, metavar="DEFINITION.json", help="the definition, ASL JSON (- reads stdin)"
    )
    check.add_argument(
        "--guarded",
        required=True,
        type=_state_names,
        metavar="STATE[,STATE...]",
        help="the states that may run only while the execution holds an acquired lease",
    )
    for role in ("acquire", "release", "renew"):
        check.add_argument(
            f"--{role}-function",
            action="append",
            metavar="GLOB",
            help=f"a Task invoking a function whose name matches GLOB counts as the lease {role} (repeatable; "
            f"default: {role} and *-{role}, as our functions are named)",
        )
    package = command(
        "package",
        cmd_package,
        "Write deployable CloudFormation templates of the stage, offline: each app (`chalice package`, its functions "
        "named as `chalice deploy` names them), the lease table and the workflows; print the deploy sequence.",
    )
    package.add_argument("--out", type=Path, default=Path("out/package"), help="folder (default: out/package)")
    package.add_argument(
        "--s3-bucket",
        type=_bucket,
        help="S3 bucket (in the region) for the Lambda code, written into the deploy sequence "
        "(default: the ARTIFACT_BUCKET variable of whoever runs it)",
    )
    run = command("run", cmd_run, "Start N executions per workflow and follow them; exit 1 if any fails.")
    run.add_argument("--executions", "-n", type=_positive, default=5, help="executions per workflow (default 5)")
    run.add_argument("--workload", action="append", help="only this workload (repeatable)")
    run.add_argument("--seed", type=int, help="seed of the sample inputs")
    run.add_argument("--timeout", type=float, default=1800.0, help="give up after this many seconds (default 1800)")
    demo = command("demo", cmd_demo, "Run both workflows end to end on an embedded moto, no AWS account needed.")
    demo.add_argument(
        "--executions",
        type=_workload_count,
        action="append",
        default=[],
        metavar="WORKLOAD=N",
        help="executions of a workflow (repeatable; default analytics=60, batch=20)",
    )
    demo.add_argument(
        "--time-scale", type=_positive_float, default=4.0, help="workflow seconds per real second (default 4)"
    )
    demo.add_argument(
        "--fail-fraction", type=_fraction, default=0.0, help="share of executions whose Process step raises (0-1)"
    )
    demo.add_argument("--seed", type=int, default=1, help="seed of inputs, timings and injected failures (default 1)")
    demo.add_argument("--out", type=Path, default=Path("out/demo"), help="report folder (default: out/demo)")
    _wait_mode_option(demo)
    local = command(
        "local", cmd_local, "Serve lease_app's API with `chalice local` on an embedded moto, leases running."
    )
    local.add_argument("--port", type=_positive, default=8000, help="port of chalice local (default 8000)")
    local.add_argument(
        "--executions",
        type=_workload_count,
        action="append",
        default=[],
        metavar="WORKLOAD=N",
        help="executions kept running (repeatable; default analytics=18, batch=7)",
    )
    _wait_mode_option(local)
    # Not a `command`: table, stage and endpoint mean nothing to it (it serves every stage and table).
    sandbox_description = (
        "Serve an empty embedded AWS (moto) on 127.0.0.1 where bootstrap, deploy, caps, workflows, run and destroy "
        "work as on AWS, executions run by the local runner; until Ctrl-C or SIGTERM."
    )
    sandbox = commands.add_parser(
        "sandbox",
        help="Serve an embedded AWS on 127.0.0.1 for bootstrap to destroy, executions run locally.",
        description=sandbox_description,
    )
    sandbox.set_defaults(handler=cmd_sandbox, table=None, stage=None, endpoint_url=None)
    sandbox.add_argument("--port", type=_positive, help="port on 127.0.0.1 (default 5005, or PORT= with make)")
    sandbox.add_argument(
        "--time-scale",
        type=_positive_float,
        help="workflow seconds per real second of its executions: Waits, retries, timeouts (default 10)",
    )
    sandbox.add_argument("--region", help="region of a function named without one (default: platform.toml, REGION)")
    sandbox.add_argument("--platform-file", type=Path, default=PLATFORM_FILE, help="platform configuration file")
    chaos = command("chaos", cmd_chaos, "Run every fault scenario on the embedded platform and check the invariants.")
    chaos.add_argument("--quick", action="store_true", help="the short version that `make test` runs")
    chaos.add_argument("--scenario", action="append", help="only this scenario (repeatable)")
    chaos.add_argument("--seed", type=int, default=1, help="seed of every random choice (default 1)")
    chaos.add_argument("--out", type=Path, default=Path("out/chaos"), help="results folder (default: out/chaos)")
    chaos.add_argument(
        "--item-layout",
        choices=["by-cap", "wide"],
        default="by-cap",
        help="by-cap: each prefix in the layout of its cap (the configured caps are narrow); wide: every prefix "
        "in the wide layout (a count and one item per lease), as caps above 100 are (default by-cap)",
    )
    _wait_mode_option(chaos)
    watch = command(
        "watch",
        cmd_watch,
        "Live view of every prefix in the table: holders against the cap, queued executions, the oldest "
        "holder's age and admissions per second. Reads one item per prefix a refresh (a Query more for a wide "
        "prefix) and Scans the table for new prefixes every --rescan seconds. Ctrl-C stops it.",
    )
    watch.add_argument("--interval", type=_positive_float, default=2.0, help="seconds between refreshes (default 2)")
    watch.add_argument(
        "--once",
        action="store_true",
        help="read the table twice, --interval apart, print that one frame and exit (for scripts)",
    )
    watch.add_argument(
        "--rescan",
        type=_positive_float,
        default=60.0,
        metavar="SECONDS",
        help="how often the table is Scanned for new prefixes; a Scan reads every item (default 60)",
    )
    dashboard = command(
        "dashboard",
        cmd_dashboard,
        "Create or update the CloudWatch dashboard <platform>-<stage>-leases of the lease metrics (safe to rerun).",
    )
    dashboard.add_argument(
        "--dry-run", action="store_true", help="print the dashboard body and the plan, change nothing"
    )
    destroy = command(
        "destroy", cmd_destroy, "Remove state machines, roles, apps and the dashboard; the table only if asked."
    )
    destroy.add_argument("--destroy-table", action="store_true", help="also delete the table and every lease in it")
    destroy.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    destroy.add_argument(
        "--force", action="store_true", help="delete state machines even while executions of theirs still run"
    )
    _new_workload_command(commands)
    return parser


def _new_workload_command(commands: argparse._SubParsersAction[OneLineErrorParser]) -> None:
    """Not a `command`: it writes files for platform.toml as it is; region, table, stage or endpoint mean nothing
    to it."""
    description = (
        "Create the workload PREFIX: PREFIX_app/ (app.py registering the lease Lambdas, a process stub in chalicelib/, "
        ".chalice/config.json with the stage environment, least-privilege policies limited to its prefix), "
        "its test in tests/unit/, and its [workloads.PREFIX] table in platform.toml. deploy, workflows, demo and "
        "run then include it. It refuses, writing nothing, a name or prefix that exists or is not a valid prefix."
    )
    parser = commands.add_parser(
        "new-workload",
        help="Create a workload app with its test and platform.toml entry (make workload NAME= CAP=).",
        description=description,
    )
    parser.set_defaults(handler=cmd_new_workload, region=None, table=None, stage=None, endpoint_url=None)
    parser.add_argument(
        "--name",
        required=True,
        metavar="PREFIX",
        help="the workload's name and lease prefix: a lower-case letter, then up to 47 lower-case letters, digits "
        "or '-' (the app folder is PREFIX_app)",
    )
    parser.add_argument(
        "--cap", required=True, metavar="N", help="how many executions may hold a lease at once (1-1000)"
    )
    parser.add_argument(
        "--wait-mode",
        choices=WAIT_MODES,
        default="poll",
        help="how an execution waits for a slot: poll (Wait, ask again; the default) or handoff (queue, be handed one)",
    )
    parser.add_argument(
        "--ttl",
        metavar="SECONDS",
        help="how long a lease lasts without renewal (default 600; at least the Process timeout 120 + 10)",
    )
    parser.add_argument("--platform-file", type=Path, default=PLATFORM_FILE, help="platform configuration file")


def _wait_mode_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait-mode",
        choices=WAIT_MODES,
        help="how every workflow waits for a slot: poll (Wait, ask again) or handoff (queue, be handed one); "
        "default: each workload's wait_mode in platform.toml",
    )


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    if "standalone" in arguments:
        standalone: Standalone = arguments.standalone
        return standalone(arguments)
    console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 120)
    try:
        config = with_overrides(
            load_platform_config(arguments.platform_file),
            region=arguments.region,
            table=arguments.table,
            stage=arguments.stage,
            environment=os.environ,
        )
        arguments.handler(arguments, config, console)
    except OperatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0
