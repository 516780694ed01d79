# Shared by scripts/test and scripts/demo: install what is missing.
# shellcheck shell=bash

# as_root CMD...: runs CMD as root (directly, or with sudo).
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# ensure_packages PKG...: installs the Debian packages that are not installed yet.
ensure_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
}

# The system packages the lab and the build need.
LAB_PACKAGES=(mariadb-server mariadb-client redis-server postgresql)
BUILD_PACKAGES=(gcc pkg-config)

# ensure_kubectl: the kubectl the machine has, else Debian's kubernetes-client
# (the simulator's tests drive the real kubectl).
ensure_kubectl() {
  command -v kubectl >/dev/null 2>&1 || ensure_packages kubernetes-client
}

# ensure_moto: moto's S3 server for the lab's S3 endpoint. Debian has no
# package, so it comes from PyPI: pip installs moto[server] if moto_server is
# not on PATH; where pip may not install (Debian's externally managed
# Python), it goes into a venv in ~/.cache/sitedeck, whose bin joins PATH.
MOTO_VERSION=5.2.1
ensure_moto() {
  command -v moto_server >/dev/null 2>&1 && return 0
  local venv="${XDG_CACHE_HOME:-$HOME/.cache}/sitedeck/moto-$MOTO_VERSION"
  if [ ! -x "$venv/bin/moto_server" ]; then
    echo "installing: moto[server]==$MOTO_VERSION (from PyPI)" >&2
    local pip=()
    if command -v pip3 >/dev/null 2>&1; then
      pip=(pip3)
    elif command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
      pip=(python3 -m pip)
    fi
    if [ ${#pip[@]} -gt 0 ] && "${pip[@]}" install --quiet "moto[server]==$MOTO_VERSION" >&2; then
      hash -r
      command -v moto_server >/dev/null 2>&1 && return 0
    fi
    ensure_packages python3 python3-venv
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet "moto[server]==$MOTO_VERSION" >&2
  fi
  export PATH="$venv/bin:$PATH"
}
