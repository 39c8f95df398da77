#!/bin/bash
# Minimal stand-in for the official mysql image entrypoint, for MySQL 9 from Debian's unstable suite.
# Honours MYSQL_ROOT_PASSWORD, MYSQL_ALLOW_EMPTY_PASSWORD, MYSQL_DATABASE, MYSQL_USER, MYSQL_PASSWORD and
# /docker-entrypoint-initdb.d/*.sql|*.sh. Like the official image it initialises with a temporary
# socket-only server and then starts the real one, so "ready for connections" is logged twice
# (testcontainers' MySqlContainer waits for that).
set -euo pipefail
ROOT_PW="${MYSQL_ROOT_PASSWORD:-}"
DB="${MYSQL_DATABASE:-}"
USR="${MYSQL_USER:-}"
PW="${MYSQL_PASSWORD:-}"
DATADIR=/var/lib/mysql
SOCK=/run/mysqld/mysqld.sock

if [ "${1:-mysqld}" != "mysqld" ]; then exec "$@"; fi
shift || true

mkdir -p /run/mysqld "$DATADIR"; chown -R mysql:mysql /run/mysqld "$DATADIR"
# --secure-file-priv: Debian's package expects /var/lib/mysql-files, which this image does not make
common=(--user=mysql --datadir="$DATADIR" --socket="$SOCK" --secure-file-priv="" --skip-name-resolve)

if [ ! -d "$DATADIR/mysql" ]; then
  if [ -z "$ROOT_PW" ] && [ -z "${MYSQL_ALLOW_EMPTY_PASSWORD:-}" ]; then
    echo "error: database is uninitialized and MYSQL_ROOT_PASSWORD not set" >&2; exit 1
  fi
  echo "Initializing database files"
  mysqld "${common[@]}" --initialize-insecure
  echo "Starting temporary server"
  mysqld "${common[@]}" --skip-networking --mysqlx=OFF &
  pid=$!
  for _ in $(seq 1 120); do mysqladmin --socket="$SOCK" -uroot ping >/dev/null 2>&1 && break; sleep 0.5; done
  sq() { printf '%s' "$1" | sed "s/'/''/g; s/\\\\/\\\\\\\\/g"; }   # escape for a '...' SQL literal
  {
    echo "SET @@SESSION.SQL_LOG_BIN=0;"
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$(sq "$ROOT_PW")';"
    echo "CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '$(sq "$ROOT_PW")';"
    echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
    if [ -n "$DB" ]; then echo "CREATE DATABASE IF NOT EXISTS \`$DB\`;"; fi
    if [ -n "$USR" ] && [ "$USR" != root ]; then
      echo "CREATE USER '$(sq "$USR")'@'%' IDENTIFIED BY '$(sq "$PW")';"
      if [ -n "$DB" ]; then echo "GRANT ALL ON \`$DB\`.* TO '$(sq "$USR")'@'%';"; fi
    fi
    echo "FLUSH PRIVILEGES;"
  } | mysql --socket="$SOCK" -uroot
  mysql_cmd=(mysql --socket="$SOCK" -uroot)
  [ -n "$ROOT_PW" ] && mysql_cmd+=("-p$ROOT_PW")
  [ -n "$DB" ] && mysql_cmd+=("$DB")
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh)  echo "running $f"; . "$f" ;;
      *.sql) echo "running $f"; "${mysql_cmd[@]}" < "$f" ;;
      *.sql.gz) echo "running $f"; gunzip -c "$f" | "${mysql_cmd[@]}" ;;
      *) ;;
    esac
  done
  if [ -n "$ROOT_PW" ]; then mysqladmin --socket="$SOCK" -uroot "-p$ROOT_PW" shutdown; else mysqladmin --socket="$SOCK" -uroot shutdown; fi
  wait "$pid" || true
  echo "MySQL init process done. Ready for start up."
fi
exec mysqld "${common[@]}" --bind-address=0.0.0.0 "$@"
