#!/usr/bin/env bash
# Make a Docker engine and a local base image available, for the docker backend.
#
#   scripts/docker-setup.sh            install if missing, start dockerd if none answers,
#                                      build runway-bridge/base:bookworm if missing
#
# Idempotent: each step is skipped when its result is already there. Needs root for the
# install and for starting dockerd. Works without any image registry: the base image is
# bootstrapped from the Debian mirror that apt already uses.
#
# Environment (all optional):
#   RB_DOCKER_DATA_ROOT   dockerd's data root      (default /var/lib/runway-bridge-docker)
#   RB_DOCKER_LOG         dockerd's log file        (default /var/log/runway-bridge-dockerd.log)
#   RB_BASE_IMAGE         tag of the base image     (default runway-bridge/base:bookworm)
#   RB_BASE_SUITE         Debian suite              (default bookworm)
#   RB_DEBIAN_MIRROR      mirror URL                (default: the one in apt's sources)
#   RB_SKIP_BASE=1        do not build the base image
set -euo pipefail

DATA_ROOT=${RB_DOCKER_DATA_ROOT:-/var/lib/runway-bridge-docker}
LOG=${RB_DOCKER_LOG:-/var/log/runway-bridge-dockerd.log}
BASE_IMAGE=${RB_BASE_IMAGE:-runway-bridge/base:bookworm}
SUITE=${RB_BASE_SUITE:-bookworm}
PACKAGES=python3,python3-venv,python3-pip,ca-certificates

say() { printf '[docker-setup] %s\n' "$*"; }
die() { printf '[docker-setup] error: %s\n' "$*" >&2; exit 1; }
t0=$(date +%s)
elapsed() { echo "$(( $(date +%s) - t0 ))s"; }

SUDO=
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "run as root (or install sudo)"
    SUDO=sudo
fi

# 1. packages ---------------------------------------------------------------
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]} (apt-get)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
    say "installed ($(elapsed))"
else
    say "docker and debootstrap are installed"
fi

# 2. engine -----------------------------------------------------------------
if docker info >/dev/null 2>&1; then
    say "a Docker engine answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
else
    if [ -n "${DOCKER_HOST:-}" ] && [ "${DOCKER_HOST}" != "unix:///var/run/docker.sock" ]; then
        die "DOCKER_HOST=$DOCKER_HOST does not answer; unset it to let this script start dockerd"
    fi
    say "starting dockerd (data root $DATA_ROOT, log $LOG)"
    $SUDO mkdir -p "$DATA_ROOT" "$(dirname "$LOG")"
    # No bridge and no iptables: containers use the host network (the bridge talks to them
    # on 127.0.0.1), and nothing here needs NAT or a registry.
    $SUDO setsid nohup dockerd \
        --data-root "$DATA_ROOT" \
        --exec-root /var/run/runway-bridge-docker \
        --pidfile /var/run/runway-bridge-dockerd.pid \
        --host unix:///var/run/docker.sock \
        --bridge=none --iptables=false --ip-masq=false \
        >>"$LOG" 2>&1 </dev/null &
    for _ in $(seq 1 120); do
        docker info >/dev/null 2>&1 && break
        sleep 0.5
    done
    if ! docker info >/dev/null 2>&1; then
        tail -n 20 "$LOG" >&2 || true
        die "dockerd did not answer within 60 s (log: $LOG)"
    fi
    say "dockerd is up ($(elapsed))"
fi

# 3. base image -------------------------------------------------------------
if [ "${RB_SKIP_BASE:-0}" = 1 ]; then
    say "skipping the base image (RB_SKIP_BASE=1)"
elif docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    say "base image $BASE_IMAGE is present"
else
    mirror=${RB_DEBIAN_MIRROR:-}
    if [ -z "$mirror" ]; then
        # The first main Debian archive apt is configured with (deb822 or one-line format).
        mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
                 | awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}' \
                 | grep -v -- '-security' | grep '/debian/\?$' | head -n 1 || true)
    fi
    if [ -z "$mirror" ]; then
        mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
                 | awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; break}}' \
                 | grep -v -- '-security' | head -n 1 || true)
    fi
    mirror=${mirror:-http://deb.debian.org/debian}
    rootfs=$(mktemp -d /tmp/runway-bridge-rootfs.XXXXXX)
    trap '$SUDO rm -rf "$rootfs"' EXIT
    say "bootstrapping Debian $SUITE from $mirror (about a minute)"
    if ! $SUDO debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$rootfs" "$mirror" \
            >"$rootfs.log" 2>&1; then
        tail -n 20 "$rootfs.log" >&2
        die "debootstrap failed (log: $rootfs.log)"
    fi
    $SUDO rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
    say "importing it as $BASE_IMAGE ($(elapsed))"
    $SUDO tar -C "$rootfs" -c . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["/bin/bash"]' \
        - "$BASE_IMAGE" >/dev/null
    rm -f "$rootfs.log"
    say "base image $BASE_IMAGE built ($(elapsed))"
fi

say "ready ($(elapsed)): docker $(docker version --format '{{.Server.Version}}'), images:"
docker images --format '  {{.Repository}}:{{.Tag}}  {{.Size}}' | head -n 20
