#!/usr/bin/env bash
# The core on Python 3.13 with numpy 2, on any Linux host with root: a Debian trixie root built
# with debootstrap (as scripts/docker-setup.sh builds the Docker base image, from the Debian
# mirror apt uses), a venv inside it with the core's dependencies from the package index (no
# MediaPipe: the catalogue's extra needs numpy<2), and the core tests run in it with chroot.
#
#   bash scripts/py313.sh             the core tests (those that need no MediaPipe, Node or Docker)
#   bash scripts/py313.sh tests/x.py  other tests (arguments go to pytest)
#
# The root is kept in RB_PY313_ROOT (default /var/cache/runway-bridge/trixie) and reused; delete
# it to start over. Needs debootstrap (scripts/install.sh --test installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)
ROOTFS=${RB_PY313_ROOT:-/var/cache/runway-bridge/trixie}
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
[ "$(id -u)" = 0 ] || { echo "py313.sh needs root (debootstrap, chroot, mount)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "py313.sh needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }

if [ ! -x "$ROOTFS/usr/bin/python3.13" ]; then
  mirror=${RB_DEBIAN_MIRROR:-$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ {print $2}' \
          | grep -v -- '-security' | grep '/debian/\?$' | head -n 1 || true)}
  mirror=${mirror:-http://deb.debian.org/debian}
  say "Bootstrapping Debian trixie (Python 3.13) into $ROOTFS from $mirror (a few minutes, once)"
  rm -rf "$ROOTFS.tmp" && mkdir -p "$(dirname "$ROOTFS")"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,curl,liblo-tools \
    trixie "$ROOTFS.tmp" "$mirror" >"$ROOTFS.log" 2>&1 || { tail -n 20 "$ROOTFS.log" >&2; exit 1; }
  rm -rf "$ROOTFS" && mv "$ROOTFS.tmp" "$ROOTFS"
fi
# The host's own CAs (a proxy's, say) so pip inside reaches the index the way the host does.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$ROOTFS/usr/local/share/ca-certificates/"
  chroot "$ROOTFS" update-ca-certificates >/dev/null 2>&1 || true
fi
cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf" 2>/dev/null || true
cp /etc/hosts "$ROOTFS/etc/hosts" 2>/dev/null || true  # localhost, as the host resolves it

mkdir -p "$ROOTFS/src"
mounted=()
cleanup() { for ((i=${#mounted[@]}-1; i>=0; i--)); do umount -l "${mounted[i]}" 2>/dev/null || true; done; }
trap cleanup EXIT
mount --bind "$SRC" "$ROOTFS/src" && mounted+=("$ROOTFS/src")
mount -t proc proc "$ROOTFS/proc" && mounted+=("$ROOTFS/proc")
mount --bind /dev "$ROOTFS/dev" && mounted+=("$ROOTFS/dev")
mount -t tmpfs tmpfs "$ROOTFS/tmp" && mounted+=("$ROOTFS/tmp")

pipenv=()
for var in PIP_INDEX_URL PIP_EXTRA_INDEX_URL HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy; do
  case "${!var:-}" in ""|file:*|/*) ;; *) pipenv+=("$var=${!var}") ;; esac
done
inside() {
  chroot "$ROOTFS" env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1 "${pipenv[@]}" "$@"
}
[ -x "$ROOTFS/opt/venv/bin/python" ] || inside python3 -m venv /opt/venv
# The checkout, importable from any folder and by every child process (what `pip install -e` does).
echo /src >"$(echo "$ROOTFS"/opt/venv/lib/python3.13/site-packages)/runway-bridge-checkout.pth"
say "Installing the core's dependencies for $(inside /opt/venv/bin/python -V) (numpy 2)"
# What pyproject.toml declares for the core, the CPU ONNX Runtime and the tests that run here.
inside /opt/venv/bin/python - <<'PY' >"$ROOTFS/tmp/requirements.txt"
import re, tomllib
p = tomllib.load(open("/src/pyproject.toml", "rb"))["project"]
test = [r for r in p["optional-dependencies"]["test"]
        if re.split(r"[<>=!~;\[ ]", r)[0] in ("pytest", "pytest-asyncio", "pytest-timeout", "scikit-image", "onnx")]
print("\n".join(p["dependencies"] + p["optional-dependencies"]["cpu"] + test + ["numpy>=2"]))
PY
inside /opt/venv/bin/python -m pip install -q -r /tmp/requirements.txt
inside /opt/venv/bin/python -c "import sys, numpy; assert sys.version_info[:2] == (3, 13) and numpy.__version__ >= '2'; print('Python', sys.version.split()[0], 'numpy', numpy.__version__)"

if [ "$#" -eq 0 ]; then
  set -- tests/test_*.py tests/transports tests/backends/test_process.py tests/clients/test_python_client.py
fi
say "pytest on Python 3.13: $*"
inside sh -c 'cd /src && exec /opt/venv/bin/python -m pytest -q -p no:cacheprovider "$@"' pytest "$@"
