#!/usr/bin/env bash
# Installs MariaDB (server and client), sysbench and gcc from Debian's packages
# when they are missing. Nothing is started: tests and the quickstart start
# their own private servers on loopback.
set -euo pipefail
need=()
command -v mariadbd >/dev/null 2>&1 || need+=(mariadb-server)
command -v mariadb >/dev/null 2>&1 || need+=(mariadb-client)
command -v sysbench >/dev/null 2>&1 || need+=(sysbench)
# go test -race needs cgo, which Go turns off when there is no C compiler.
command -v gcc >/dev/null 2>&1 || need+=(gcc)
# etcd 3.4 from Debian: the tests run dmplan against it as an external cluster.
[ -x /usr/bin/etcd ] || need+=(etcd-server)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} from Debian's packages..." >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Debian's package puts mariadbd in /usr/sbin, which is not always on PATH.
if ! command -v mariadbd >/dev/null 2>&1 && [ -x /usr/sbin/mariadbd ]; then
  echo "note: /usr/sbin is not on PATH; tests look for mariadbd there too" >&2
fi
