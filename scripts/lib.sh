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
LAB_PACKAGES=(mariadb-server mariadb-client redis-server postgresql openssh-server openssh-client libfaketime chrony iproute2)
# rdkafka builds its bundled librdkafka with ssl: a C toolchain, OpenSSL and
# zlib headers.
BUILD_PACKAGES=(gcc g++ make pkg-config libssl-dev zlib1g-dev)

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

# ensure_nisshi: the Kafka-compatible broker the lab runs (nisshi, the
# continuation of tansu). No package has it, and it takes about 11 minutes
# and 2 GB of memory to build, so it is built once into the cache dir and
# reused; SITEDECK_NISSHI points the lab at it. Its `rama` dependency
# declares a newer Rust than it needs, hence --ignore-rust-version.
NISSHI_VERSION=0.8.1
ensure_nisshi() {
  local root="${XDG_CACHE_HOME:-$HOME/.cache}/sitedeck/nisshi-$NISSHI_VERSION"
  if [ ! -x "$root/bin/nisshi" ]; then
    echo "building: nisshi $NISSHI_VERSION into $root (once; about 11 minutes)" >&2
    CARGO_TARGET_DIR="$root.build" cargo install nisshi --version "$NISSHI_VERSION" \
      --locked --ignore-rust-version --no-default-features --features dynostore,libsql \
      --root "$root" >&2
    rm -rf "$root.build"
  fi
  export SITEDECK_NISSHI="$root/bin/nisshi"
}
