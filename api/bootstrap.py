"""Composition root: which migration branches and demo loaders make up the application."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from ledger.db import upgrade_database

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DOMAIN_PACKAGES = ("funds", "vouchers", "subsidies")


def domain_migration_folders() -> list[Path]:
    folders = []
    for package in DOMAIN_PACKAGES:
        folder = PROJECT_ROOT / package / "migrations" / "versions"
        if folder.is_dir() and any(folder.glob("*.py")):
            folders.append(folder)
    api_folder = PROJECT_ROOT / "api" / "migrations" / "versions"
    if api_folder.is_dir():
        folders.append(api_folder)  # the HTTP API's users and keys
    jobs_folder = PROJECT_ROOT / "jobs" / "migrations" / "versions"
    if jobs_folder.is_dir():
        folders.append(jobs_folder)  # the scheduled jobs' alerts and balance monitors
    return folders


def migrate(engine: Engine) -> None:
    """Create or upgrade every table of the ledger and of the domain packages."""
    upgrade_database(engine, domain_migration_folders())
