#!/usr/bin/env bash
# Runs every fuzz target for a while (default 3s each; FUZZTIME=1m for a
# longer hunt). `go test` alone runs each target's checked-in corpus
# (testdata/fuzz/) as a regression test; this runs the fuzzing engine.
# New crashers are written to the package's testdata/fuzz/ — commit them.
#
#   scripts/fuzz.sh            # every target, 3s each
#   FUZZTIME=30s scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
t="${FUZZTIME:-3s}"
targets=(
  "./spec FuzzLoad"                       # the YAML loader
  "./spec FuzzSplit"                      # multi-document splitting
  "./internal/tablefilter FuzzParse"      # table patterns and routes
  "./planner FuzzPlanFile"                # plan files and the renderers
  "./internal/statusview FuzzReadBack"    # values read back from etcd, through status and plan
  "./units/ddl FuzzPlanStatement"         # the DDL lexer and planner (binlog statements)
)
for tg in "${targets[@]}"; do
  set -- $tg
  echo "fuzz $1 $2 for $t" >&2
  go test -run '^$' -fuzz "^$2\$" -fuzztime "$t" "$1"
done
