#!/usr/bin/env bash
# Make sure the PostgreSQL the tests use is reachable: start the local cluster if it is installed but
# stopped, install it from Debian's packages if it is missing (root only). Exits non-zero if it still
# cannot be reached, so the test run fails rather than skips.
set -euo pipefail
url="${FUNDLEDGER_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/test}"

reachable() { pg_isready -q -d "$url" 2>/dev/null || python3 - "$url" <<'PY' 2>/dev/null
import socket, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
socket.create_connection((u.hostname or "127.0.0.1", u.port or 5432), timeout=2).close()
PY
}

if reachable; then exit 0; fi
echo "PostgreSQL at $url is not reachable; trying to start it" >&2
if ! command -v pg_ctlcluster >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  # Local trust auth, as on the development machines.
  sed -i -E 's/^(host\s+all\s+all\s+127\.0\.0\.1\/32\s+)\S+/\1trust/; s/^(local\s+all\s+postgres\s+)\S+/\1trust/' \
    "/etc/postgresql/$version/main/pg_hba.conf"
fi
if command -v pg_ctlcluster >/dev/null 2>&1; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do reachable && break; sleep 1; done
  su postgres -c "psql -tc \"SELECT 1 FROM pg_database WHERE datname = 'test'\" | grep -q 1 || createdb test" 2>/dev/null || true
fi
if reachable; then exit 0; fi
echo "error: PostgreSQL at $url is unreachable; the PostgreSQL tests cannot run" >&2
exit 1
