#!/usr/bin/env bash
# Runs dmplan's whole test suite. Installs what the tests need when it is
# missing (MariaDB from Debian's packages, sysbench), then runs go test.
# The tests start their own MariaDB servers and embedded etcd on loopback.
#
#   scripts/test.sh              # everything
#   scripts/test.sh ./planner/   # some packages (extra args go to go test)
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH="$PATH:/usr/sbin:/sbin"
"$(dirname "$0")/install-deps.sh"

# Every package runs under the race detector: a data race is a bug.
if [ $# -gt 0 ]; then
  exec go test -race -count=1 -p 2 -timeout 20m "$@"
fi
# 2 cores: run packages two at a time; each package keeps its own servers.
# The two longest packages are named first so that they start first (go
# test starts packages in the order given): units runs from the start to
# the end in one slot while internal/e2e and then every other package
# share the other.
go test -race -count=1 -p 2 -timeout 20m ./units/ ./internal/e2e/ ./...
# The memory tests measure the test binary's heap: without the race
# detector, whose bookkeeping on every blob copy they would measure instead.
go test -count=1 -timeout 10m -run 'MemoryBounded$' ./units/
# Every fuzz target for 3000 executions beyond its checked-in corpus (a count,
# not a duration: see scripts/fuzz.sh).
FUZZTIME="${FUZZTIME:-3000x}" "$(dirname "$0")/fuzz.sh"
