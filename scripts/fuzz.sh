#!/usr/bin/env bash
# Runs every fuzz target for a while (default 5000 executions each;
# FUZZTIME=1m or FUZZTIME=200000x for a longer hunt). `go test` alone runs each target's checked-in corpus
# (testdata/fuzz/) as a regression test; this runs the fuzzing engine.
# New crashers are written to the package's testdata/fuzz/ — commit them.
#
#   scripts/fuzz.sh            # every target, 5000 executions each
#   FUZZTIME=30s scripts/fuzz.sh
#
# The default is a count, not a duration: with a duration, Go 1.26's fuzz
# coordinator can fail a target with a bare "context deadline exceeded" at the
# deadline, having found nothing (go.dev/issue/75804, fixed in Go 1.27). A
# count has no deadline, so a loaded machine only makes the run slower.
set -euo pipefail
cd "$(dirname "$0")/.."
t="${FUZZTIME:-5000x}"
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
