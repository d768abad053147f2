#!/usr/bin/env bash
# Set up (as scripts/setup.sh --dev) and run every check: ruff, mypy --strict, the import
# contracts (lint-imports, pyproject's [tool.importlinter]), pytest.
# Extra arguments go to pytest. The PostgreSQL tests use CALLVAULT_TEST_POSTGRES_URL
# (default: the local server as user postgres); each run creates and drops its own database.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy
.venv/bin/lint-imports --no-cache
.venv/bin/python -m pytest "$@"
