#!/usr/bin/env bash
# Shared set-up for scripts/run.sh and scripts/test.sh: everything the build and the tests need,
# installed without network access beyond the package registries (PyPI, Debian).
#
#   source scripts/setup.sh [--test]
#
# - a project-local virtualenv in .venv with the Python packages the build and tests use;
# - a `cmake` binary (from PyPI's `cmake` wheel, no root needed) for the JPEG-LS codec (CharLS);
# - with --test: from Debian's packages when missing, dcmtk and openjph-tools (the test oracles re-encode images
#   with it), chromium (the report test renders report.html headless) and fonts-dejavu-core
#   (figure text). Without root it stops and says what to install; no test is skipped.
set -euo pipefail

GRANSKA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export GRANSKA_ROOT
VENV="$GRANSKA_ROOT/.venv"
want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

say() { printf '[setup] %s\n' "$*" >&2; }

command -v cargo >/dev/null || { say "cargo not found: install Rust (https://rustup.rs) first"; exit 1; }
command -v python3 >/dev/null || { say "python3 not found: install Python 3 with pip first"; exit 1; }

# Keep the requirement files' hash as a stamp so an unchanged venv costs nothing.
req_build="$GRANSKA_ROOT/scripts/requirements-build.txt"
req_test="$GRANSKA_ROOT/scripts/requirements-test.txt"
if [[ ! -x "$VENV/bin/python" ]]; then
    say "creating virtualenv $VENV"
    python3 -m venv "$VENV" 2>/dev/null || {
        # Debian's python3 lacks ensurepip unless python3-venv is installed.
        if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
            apt-get install -y -q python3-venv >/dev/null
            python3 -m venv "$VENV"
        else
            say "python3 -m venv failed: install Debian's python3-venv (apt-get install python3-venv)"; exit 1
        fi
    }
fi
reqs=("$req_build")
[[ $want_test -eq 1 ]] && reqs+=("$req_test")
stamp="$VENV/.granska-$(cat "${reqs[@]}" | sha256sum | cut -c1-16)"
if [[ ! -e "$stamp" ]]; then
    say "installing Python packages: ${reqs[*]##*/}"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
    args=(); for r in "${reqs[@]}"; do args+=(-r "$r"); done
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${args[@]}"
    touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
export GRANSKA_PYTHON="$VENV/bin/python"
command -v cmake >/dev/null || { say "cmake missing after installing the PyPI wheel"; exit 1; }

if [[ $want_test -eq 1 ]]; then
    missing=()
    # By path: pynetdicom (test venv, first on PATH) has its own storescu and echoscu.
    for tool in /usr/bin/storescu /usr/bin/echoscu dsrdump dcmcrle dcmcjpeg dcmcjpls dcmconv dcmdump; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    packages=()
    [[ ${#missing[@]} -gt 0 ]] && packages+=(dcmtk)
    command -v chromium >/dev/null || packages+=(chromium)
    # DICOM peers of the network edge's tests: Orthanc (+ DICOMweb) as the PACS, dicom3tools'
    # dciodvfy and Pixelmed's DicomSRValidator for the result SR.
    command -v Orthanc >/dev/null || packages+=(orthanc)
    [[ -f /usr/share/orthanc/plugins/libOrthancDicomWeb.so ]] || packages+=(orthanc-dicomweb)
    command -v dciodvfy >/dev/null || packages+=(dicom3tools)
    # HTJ2K test files: OpenJPH's encoder (OpenJPEG decodes HTJ2K but cannot encode it).
    command -v ojph_compress >/dev/null || packages+=(openjph-tools)
    [[ -f /usr/share/java/pixelmed.jar ]] || packages+=(pixelmed-apps)
    [[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]] || packages+=(fonts-dejavu-core)
    # The PostgreSQL backend's tests start their own server (initdb + pg_ctl in a temporary
    # directory), so only the binaries are needed, not a running cluster.
    compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null || packages+=(postgresql)
    if [[ ${#packages[@]} -gt 0 ]]; then
        if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
            say "installing from Debian's packages: ${packages[*]}"
            apt-get update -q >/dev/null || true
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${packages[@]}" >/dev/null
        else
            say "the tests need Debian packages: run 'sudo apt-get install ${packages[*]}' and retry"
            exit 1
        fi
    fi
fi
