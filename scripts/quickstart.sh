#!/usr/bin/env bash
# dmplan's quickstart, end to end on one machine, everything on loopback:
#   1. installs MariaDB from Debian's packages when missing,
#   2. starts a source (127.0.0.1:13306, binlog on) and a target (127.0.0.1:13307)
#      as private servers under .tmp/quickstart/ with sample data in the source,
#   3. runs `dmplan up -f examples/shop/`: the embedded etcd, an agent and an apply,
#   4. writes to the source while dmplan replicates,
#   5. shows the rows copied and replicated into the target, then stops everything.
# Run it again at any time: it starts from scratch.
#
# For README's tour, which runs dmplan's commands one by one:
#   scripts/quickstart.sh --servers   only step 2: the same source and target with the same data,
#                                     left running; the dmplan users get the passwords in
#                                     $SOURCE_PASSWORD and $TARGET_PASSWORD (export them first)
#   scripts/quickstart.sh --stop      stops the servers --servers started
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"

mode=run
case "${1:-}" in
"") ;;
--servers) mode=servers ;;
--stop) mode=stop ;;
*) echo "usage: scripts/quickstart.sh [--servers | --stop]" >&2; exit 2 ;;
esac

work="$PWD/.tmp/quickstart"
# stop_servers stops servers a --servers run left, and waits for them.
stop_servers() {
  local f pid
  for f in "$work"/source/mariadbd.pid "$work"/target/mariadbd.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    # Only a mariadbd of this directory (a stale pid file may name another process).
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "mariadbd --defaults-file=$(dirname "$f")/my.cnf" || continue
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
}
if [ $mode = stop ]; then
  stop_servers
  echo "stopped the quickstart's servers (data kept in $work until the next run)"
  exit 0
fi
stop_servers # a tour's servers would hold the ports

scripts/install-deps.sh
if [ $mode = servers ]; then
  if [ -z "${SOURCE_PASSWORD:-}" ] || [ -z "${TARGET_PASSWORD:-}" ]; then
    echo "export SOURCE_PASSWORD and TARGET_PASSWORD first: the servers' dmplan users get those passwords" >&2
    exit 2
  fi
else
  export SOURCE_PASSWORD="source-secret-$$" TARGET_PASSWORD="target-secret-$$"
fi
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

# mariadb_start NAME PORT SERVER_ID: a private server with its own datadir.
mariadb_start() {
  local name=$1 port=$2 id=$3 dir="$work/$1"
  mkdir -p "$dir/tmp"
  cat >"$dir/my.cnf" <<CNF
[mariadbd]
user=root
datadir=$dir/data
port=$port
bind-address=127.0.0.1
socket=$dir/mariadbd.sock
pid-file=$dir/mariadbd.pid
log-error=$dir/error.log
tmpdir=$dir/tmp
server_id=$id
log-bin=$dir/data/mysql-bin
binlog_format=ROW
binlog_row_image=FULL
character-set-server=utf8mb4
collation-server=utf8mb4_general_ci
skip-name-resolve
CNF
  mariadb-install-db --defaults-file="$dir/my.cnf" --user=root \
    --auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1
  if [ $mode = servers ]; then
    # Left running: in a session of its own, away from this shell's signals.
    setsid mariadbd --defaults-file="$dir/my.cnf" </dev/null >/dev/null 2>&1 &
  else
    mariadbd --defaults-file="$dir/my.cnf" &
    pids+=($!)
  fi
  for _ in $(seq 1 300); do
    mariadb-admin --no-defaults -uroot -S "$dir/mariadbd.sock" ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "MariaDB $name did not start; see $dir/error.log" >&2
  exit 1
}
sql() { mariadb --no-defaults --default-character-set=utf8mb4 -uroot -S "$work/$1/mariadbd.sock" "${@:2}"; }

echo "==> starting MariaDB source (127.0.0.1:13306) and target (127.0.0.1:13307) in $work"
rm -rf "$work"
mariadb_start source 13306 1
mariadb_start target 13307 2

sql source <<SQL
CREATE USER dmplan@'127.0.0.1' IDENTIFIED BY '$SOURCE_PASSWORD';
GRANT SELECT, RELOAD, LOCK TABLES, SHOW VIEW, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO dmplan@'127.0.0.1';
CREATE DATABASE shop;
CREATE TABLE shop.customers (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, email VARCHAR(200));
CREATE TABLE shop.orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, customer_id INT NOT NULL,
  amount DECIMAL(10,2) NOT NULL, created_at DATETIME(6) NOT NULL, note TEXT);
CREATE TABLE shop.tmp_scratch (id INT PRIMARY KEY, junk VARCHAR(10));
INSERT INTO shop.customers VALUES (1,'Ada','ada@example.com'),(2,'Grace','grace@example.com'),(3,'Zoë','zoe@example.com');
INSERT INTO shop.orders (customer_id, amount, created_at, note)
  SELECT 1 + seq % 3, seq * 1.25, NOW(6), CONCAT('order ', seq) FROM shop.seq_1_to_10000;
INSERT INTO shop.tmp_scratch VALUES (1, 'skip me');
SQL
sql target <<SQL
CREATE USER dmplan@'127.0.0.1' IDENTIFIED BY '$TARGET_PASSWORD';
GRANT ALL ON *.* TO dmplan@'127.0.0.1';
SQL

if [ $mode = servers ]; then
  echo "==> left running: source 127.0.0.1:13306 and target 127.0.0.1:13307 (examples/shop/), user dmplan with"
  echo "    \$SOURCE_PASSWORD and \$TARGET_PASSWORD; data in $work; stop them with: scripts/quickstart.sh --stop"
  exit 0
fi

echo "==> building dmplan"
go build -o bin/dmplan ./cmd/dmplan

echo "==> dmplan validate / plan / up -f examples/shop/"
bin/dmplan validate -f examples/shop/
bin/dmplan up -f examples/shop/ --data-dir "$work/etcd" --endpoints 127.0.0.1:12379 --auto-approve \
  --log-format text >"$work/dmplan.log" 2>&1 &
pids+=($!)
export DMPLAN_ENDPOINTS=127.0.0.1:12379

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then echo "timed out waiting for $what; see $work/dmplan.log" >&2; tail -20 "$work/dmplan.log" >&2; exit 1; fi
    sleep 0.5
  done
}
count() { sql target -N -e "SELECT COUNT(*) FROM shop.orders" 2>/dev/null; }
wait_for 120 "the snapshot to load" bash -c "[ \"\$(mariadb --no-defaults -uroot -S '$work/target/mariadbd.sock' -N -e 'SELECT COUNT(*) FROM shop.orders' 2>/dev/null)\" = 10000 ]"
echo "==> the snapshot is in the target: $(count) orders"

echo "==> writing to the source while dmplan replicates"
sql source <<SQL
INSERT INTO shop.orders (customer_id, amount, created_at, note) SELECT 2, seq, NOW(6), 'live' FROM shop.seq_1_to_500;
UPDATE shop.customers SET email = 'zoe@example.org' WHERE id = 3;
DELETE FROM shop.orders WHERE id <= 100;
INSERT INTO shop.customers VALUES (4, 'Linus', NULL);
SQL
wait_for 60 "replication to catch up" bash -c "[ \"\$(mariadb --no-defaults -uroot -S '$work/target/mariadbd.sock' -N -e 'SELECT COUNT(*) FROM shop.orders' 2>/dev/null)\" = 10400 ]"

echo "==> dmplan status"
bin/dmplan status
echo
echo "==> rows in the target (copied, then replicated)"
sql target -t -e "SELECT COUNT(*) AS orders, SUM(amount) AS total FROM shop.orders; SELECT * FROM shop.customers ORDER BY id; SHOW TABLES FROM shop"
echo "==> rows in the source, for comparison"
sql source -t -e "SELECT COUNT(*) AS orders, SUM(amount) AS total FROM shop.orders; SELECT * FROM shop.customers ORDER BY id"
echo "==> done: the target equals the source (shop.tmp_scratch was filtered out). Logs: $work/dmplan.log"
