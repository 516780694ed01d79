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
LAB_PACKAGES=(mariadb-server mariadb-client redis-server)
BUILD_PACKAGES=(gcc pkg-config)

# ensure_kubectl: the kubectl the machine has, else Debian's kubernetes-client
# (the simulator's tests drive the real kubectl).
ensure_kubectl() {
  command -v kubectl >/dev/null 2>&1 || ensure_packages kubernetes-client
}
