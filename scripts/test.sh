#!/usr/bin/env bash
# The whole test suite, on SQLite and on PostgreSQL. The README and .ci/run both call this.
set -euo pipefail
cd "$(dirname "$0")/.."
export FUNDLEDGER_TEST_POSTGRES_URL="${FUNDLEDGER_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/test}"
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
bash scripts/ensure-postgres.sh
# The browser tests (tests/web) drive Debian's Chromium; without the CJK fonts Chinese renders as boxes.
# The package lists are refreshed only when the install cannot find the packages without it.
if [ ! -x /usr/bin/chromium ] || [ ! -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q chromium fonts-noto-cjk || { apt-get update -q && apt-get install -y -q chromium fonts-noto-cjk; }
fi
exec .venv/bin/python -m pytest -n 2 -p no:cacheprovider "$@"
