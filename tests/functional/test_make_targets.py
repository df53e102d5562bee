"""The Makefile passes REGION/TABLE/STAGE/DESTROY_TABLE/N through to the operator CLI."""

from __future__ import annotations

import os
import subprocess

import pytest

from lease_ops.config.chalice_apps import REPOSITORY_ROOT


def make(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *arguments],
        cwd=REPOSITORY_ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_make_bootstrap_takes_the_table_from_the_command_line(moto_endpoint: str) -> None:
    result = make("bootstrap", "TABLE=wired-through-make", "ARGS=--dry-run")

    assert result.returncode == 0, result.stderr
    assert "lease table wired-through-make" in result.stdout
    assert "would    create the table" in result.stdout


@pytest.mark.slow
def test_make_destroy_deletes_the_table_only_with_destroy_table(moto_endpoint: str) -> None:
    make("bootstrap", "TABLE=wired-through-make")

    kept = make("destroy", "TABLE=wired-through-make", "ARGS=--dry-run")
    dropped = make("destroy", "TABLE=wired-through-make", "DESTROY_TABLE=1", "ARGS=--dry-run")

    assert "kept (DESTROY_TABLE=1 deletes it" in kept.stdout
    assert "would    delete table wired-through-make" in dropped.stdout


@pytest.mark.slow
def test_make_with_a_bad_region_fails_with_one_line(moto_endpoint: str) -> None:
    result = make("workflows", "REGION=mars-north-1")

    assert result.returncode != 0
    assert "error: unknown AWS region 'mars-north-1'" in result.stderr


@pytest.mark.slow
def test_make_watch_once_reads_the_table_given_on_the_command_line(moto_endpoint: str) -> None:
    make("bootstrap", "TABLE=wired-through-make")

    watched = make("watch", "TABLE=wired-through-make", "ARGS=--once --interval 0.1")
    missing = make("watch", "TABLE=not-there", "ARGS=--once")

    assert watched.returncode == 0, watched.stderr
    assert "leases in wired-through-make (eu-central-1)" in watched.stdout
    assert "error: table 'not-there' does not exist in eu-central-1" in missing.stderr


@pytest.mark.slow
def test_make_dashboard_names_the_dashboard_after_the_stage(moto_endpoint: str) -> None:
    result = make("dashboard", "STAGE=prod", "ARGS=--dry-run")

    assert result.returncode == 0, result.stderr
    assert "would    create dashboard shared-lease-platform-prod-leases" in result.stdout
