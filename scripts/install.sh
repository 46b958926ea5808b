#!/usr/bin/env bash
# install.sh VENV SPEC: install vamer (SPEC: "." or ".[dev]") and torch into the venv VENV.
#
# uv installs (from PyPI) and does the work: it resolves once and installs every wheel in parallel,
# about 30 s where pip took over 2 minutes.  It reads none of pip's settings, so the package sources
# this machine gives pip (an index or a mirror, local wheel folders) are handed to it.  torch is pinned
# to 2.13.0 in the same resolution: where pip's find-links hold its CPU build, that is the one taken,
# and no dependency can pull a CUDA build.
set -euo pipefail
venv=$1
spec=$2
pip=("$venv/bin/pip")
"${pip[@]}" install -q --disable-pip-version-check uv

sources=()
setting() {  # every value pip has for one setting: its configuration files, then its environment
  "${pip[@]}" config get "global.$1" 2>/dev/null || true
  local variable="PIP_$(echo "$1" | tr 'a-z-' 'A-Z_')"
  echo "${!variable:-}"
}
for url in $(setting index-url); do sources+=(--index-url "$url"); done
for url in $(setting extra-index-url); do sources+=(--extra-index-url "$url"); done
for place in $(setting find-links); do sources+=(--find-links "$place"); done

# unsafe-best-match: like pip, take the best version any source has, not the first source's.
"$venv/bin/uv" pip install --quiet --python "$venv/bin/python" --index-strategy unsafe-best-match \
  "${sources[@]}" torch==2.13.0 -e "$spec"
