#!/usr/bin/env bash
# Install runway_bridge with every built-in model into ./.venv (macOS and Linux; Windows:
# scripts/install.ps1). No weights are downloaded at run time: they ship inside the packages.
#
#   bash scripts/install.sh           the daemon and the catalogue
#   bash scripts/install.sh --test    also what the test suite needs: Python test packages,
#                                     Debian packages (liblo-tools, chromium, opencv-doc, curl,
#                                     debootstrap) and the Node test clients
#
# Environment: PYTHON (the interpreter to build .venv from, default python3), ONNXRUNTIME
# (cpu, cuda, directml or openvino: which ONNX Runtime build, default cpu), RUNWAY_BRIDGE_NO_LINK=1
# (do not link runway-bridge into ~/.local/bin).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

PY=${PYTHON:-python3}
ORT=${ONNXRUNTIME:-cpu}
case "$ORT" in cpu|cuda|directml|openvino) ;; *) echo "ONNXRUNTIME must be cpu, cuda, directml or openvino" >&2; exit 2;; esac
if [ ! -x .venv/bin/python ]; then
  say "Creating .venv with $($PY --version)"
  $PY -m venv .venv
fi
VPY=.venv/bin/python
PIP="$VPY -m pip --disable-pip-version-check"
extras="[models,$ORT]"
[ "${1:-}" = "--test" ] && extras="[models,$ORT,test]"
# pip names each package as it goes (and draws download bars on a terminal): no long silence.
say "Installing runway_bridge$extras and its models' packages (a few minutes the first time)"
$PIP install --progress-bar on -e ".$extras"
# Exactly one build of cv2/ and of onnxruntime/: a second one (left by an older install, or the
# CPU build beside a GPU one) shares their files, so it is removed and ours written again.
for other in opencv-python opencv-contrib-python opencv-contrib-python-headless; do
  if $PIP show -q "$other" >/dev/null 2>&1; then
    say "Removing $other (it clashes with opencv-python-headless)"
    $PIP uninstall -q -y "$other"
    $PIP install -q --force-reinstall --no-deps "$($PIP show opencv-python-headless | awk '/^Version:/ {print "opencv-python-headless==" $2}')"
  fi
done
ort_pkg=onnxruntime; [ "$ORT" != cpu ] && ort_pkg=onnxruntime-$ORT
[ "$ORT" = cuda ] && ort_pkg=onnxruntime-gpu
for other in onnxruntime onnxruntime-gpu onnxruntime-directml onnxruntime-openvino; do
  if [ "$other" != "$ort_pkg" ] && $PIP show -q "$other" >/dev/null 2>&1; then
    say "Replacing $other with $ort_pkg"
    $PIP uninstall -q -y "$other"
    $PIP install -q --force-reinstall --no-deps "$($PIP show "$ort_pkg" | awk -v p="$ort_pkg" '/^Version:/ {print p "==" $2}')"
  fi
done
say "Installing the packages that bring their models, without their requirements"
$VPY -m runway_bridge.nodeps install
$VPY -m runway_bridge.nodeps check

if command -v npm >/dev/null; then
  say "Installing p5.js for the example sketches"
  (cd runway_bridge/web/vendor && npm install --no-audit --no-fund --loglevel=error) \
    || echo "   (p5.js not installed: the example pages will use a CDN copy when online)"
fi

if [ "${1:-}" = "--test" ]; then
  if command -v apt-get >/dev/null; then
    missing=""
    for pkg in liblo-tools chromium opencv-doc curl debootstrap; do
      dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
    done
    if [ -n "$missing" ]; then
      say "Installing Debian packages:$missing"
      SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
      $SUDO apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
    fi
  fi
  if [ -f tests/node/package.json ]; then
    say "Installing the Node test clients"
    (cd tests/node && npm install --no-audit --no-fund --loglevel=error)
  fi
fi

# Put the command on the PATH: a link in ~/.local/bin, the folder pip and uv use for commands.
bin="$HOME/.local/bin"
here="$(pwd)/.venv/bin/runway-bridge"
if [ -z "${RUNWAY_BRIDGE_NO_LINK:-}" ]; then
  mkdir -p "$bin"
  if [ ! -e "$bin/runway-bridge" ] || [ -L "$bin/runway-bridge" ]; then
    ln -sf "$here" "$bin/runway-bridge"
  fi
fi
if [ -n "${RUNWAY_BRIDGE_NO_LINK:-}" ]; then
  say "Done. Start the daemon with: .venv/bin/runway-bridge serve (or source .venv/bin/activate first)"
else case ":$PATH:" in
  *":$bin:"*) say "Done. Start the daemon with: runway-bridge serve" ;;
  *) say "Done. Start the daemon with: .venv/bin/runway-bridge serve"
     echo "    To type just runway-bridge, put $bin on your PATH (add this line to ~/.profile or ~/.zshrc):"
     echo "      export PATH=\"$bin:\$PATH\""
     echo "    or activate the environment in this shell: source .venv/bin/activate" ;;
esac; fi
