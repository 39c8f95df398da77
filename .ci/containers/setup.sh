#!/usr/bin/env bash
# A Docker-compatible container engine for testcontainers on a machine that has none and can pull no
# image: rootful podman serving the Docker API on a Unix socket, with PostgreSQL 15, MariaDB 10.11 and
# MySQL 9.7 images built locally from Debian packages (MySQL from the unstable suite) and tagged as the
# upstream names (postgres:15, mariadb:10.11, mysql:9 and mysql:9.7), so `--db container:postgres:15` runs unchanged. Everything is cached: a second run
# takes seconds. Debian 12, as root. Prints the environment to use (also written to $ENV_FILE).
#
# Why each setting (found on this project's machines):
# - runc, not crun: crun 1.8 refuses this host's hybrid cgroup v1/v2 layout
# - default ulimits at the caller's hard limit: the sandbox cannot raise RLIMIT_NOFILE
#   ("setrlimit RLIMIT_NOFILE: Operation not permitted" with podman's default of 1048576)
# - cgroupfs and the file events logger: there is no systemd or journald
# - the base images come from debootstrap with the Debian mirror apt already uses: nothing is pulled
# - TESTCONTAINERS_RYUK_DISABLED: the reaper image cannot be pulled, so the harness removes its own
#   containers (and the tests check that none is left)
# - TESTCONTAINERS_CONNECTION_MODE=docker_host: /.dockerenv exists here, and testcontainers would
#   otherwise assume it runs inside a container and fail with KeyError 'HostConfig'
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${RACE_HARNESS_CONTAINERS_DIR:-/var/tmp/race-harness-containers}
SOCK=$WORK/podman.sock
ENV_FILE=$WORK/env
log() { printf '[containers] %s\n' "$*" >&2; }
mkdir -p "$WORK"

if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
  log "installing podman, runc and debootstrap from Debian packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc netavark aardvark-dns \
    containernetworking-plugins slirp4netns fuse-overlayfs uidmap iptables debootstrap curl >/dev/null
fi

mkdir -p /etc/containers
cat > /etc/containers/containers.conf <<CONF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF

mirror=${DEBIAN_MIRROR:-$(grep -h -m1 -E '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2; exit}')}
[ -n "$mirror" ] || mirror=$(grep -h -m1 -E '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2; exit}')

base() {  # base SUITE: a minimal Debian root from debootstrap, imported as localhost/debian:SUITE
  podman image exists "localhost/debian:$1" && return
  [ -n "$mirror" ] || { log "no Debian mirror found in apt's sources; set DEBIAN_MIRROR"; exit 1; }
  log "building the $1 base image with debootstrap from $mirror"
  rm -rf "$WORK/rootfs"
  debootstrap --variant=minbase "$1" "$WORK/rootfs" "$mirror" >"$WORK/debootstrap-$1.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap-$1.log" >&2; exit 1; }
  rm -rf "$WORK"/rootfs/var/cache/apt/* "$WORK"/rootfs/var/lib/apt/lists/*
  printf 'path-exclude=/usr/share/doc/*\npath-exclude=/usr/share/man/*\npath-exclude=/usr/share/locale/*\n' \
    > "$WORK/rootfs/etc/dpkg/dpkg.cfg.d/01-container-slim"
  tar -C "$WORK/rootfs" -c . | podman import -q - "localhost/debian:$1" >/dev/null
  rm -rf "$WORK/rootfs"
}
base bookworm
base sid  # MySQL proper (Oracle's server) is packaged only in Debian's unstable suite

build() {  # build IMAGE_DIR TAG UPSTREAM_NAME
  if ! podman image exists "$2"; then
    log "building $2 from Debian packages"
    podman build -q --pull=never -t "$2" "$HERE/images/$1" >"$WORK/build-$1.log" 2>&1 \
      || { tail -30 "$WORK/build-$1.log" >&2; exit 1; }
  fi
  podman tag "$2" "$3"
}
build postgres localhost/race-harness-postgres:15 docker.io/library/postgres:15
build mariadb localhost/race-harness-mariadb:10.11 docker.io/library/mariadb:10.11
build mysql localhost/race-harness-mysql:9 docker.io/library/mysql:9
podman tag localhost/race-harness-mysql:9 docker.io/library/mysql:9.7

# A service whose working directory was deleted (it was started inside a CI clone that is gone)
# still answers pings but cannot start containers: conmon fails with "Failed to get working
# directory" and the API returns "write child: broken pipe". Restart such a service.
for pid in $(pgrep -f "podman system service .*unix://$SOCK" || true); do
  case "$(readlink "/proc/$pid/cwd" 2>/dev/null)" in
    *" (deleted)")
      log "restarting the API service: its working directory is gone"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
      rm -f "$SOCK" ;;
  esac
done
if ! curl -sf --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1; then
  log "starting the Docker-compatible API on $SOCK"
  rm -f "$SOCK"
  # From its own folder, so it never depends on the caller's (possibly temporary) directory, in a
  # session of its own, holding none of the caller's streams (a CI log reader waits for those).
  cd "$WORK"
  setsid podman system service --time=0 "unix://$SOCK" </dev/null >"$WORK/podman-service.log" 2>&1 &
  cd "$OLDPWD"
  for _ in $(seq 100); do curl -sf --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1 && break; sleep 0.1; done
  curl -sf --unix-socket "$SOCK" http://d/_ping >/dev/null || { log "the API socket did not come up"; exit 1; }
fi
cat > "$ENV_FILE" <<ENV
export DOCKER_HOST=unix://$SOCK
export TESTCONTAINERS_RYUK_DISABLED=true
export TESTCONTAINERS_CONNECTION_MODE=docker_host
ENV
log "ready: source $ENV_FILE"
cat "$ENV_FILE"
