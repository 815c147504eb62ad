// Package mariadbtest starts real, private MariaDB servers on loopback for
// tests and benchmarks: a temporary data directory, its own port, socket and
// pid file, no systemd and no /etc/mysql. It needs mariadbd and
// mariadb-install-db on PATH (Debian's mariadb-server package; the README's
// test command installs it).
package mariadbtest
