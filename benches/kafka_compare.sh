#!/usr/bin/env bash
# Side by side: how long sitedeck and kaskade (PyPI; it bundles a current
# librdkafka) take from start until a broker's topics and lag are on screen.
#
# The broker is the one benches/kafka_scale.rs sets up (nisshi, 500 topics x
# 6 partitions, 50 groups, SCRAM-SHA-512), kept running with
# SITEDECK_KEEP_BROKER=1. Each client runs in a 200x50 tmux pane; the pane
# is read every 50 ms until it shows all 500 topics with their lag:
#   sitedeck: the Kafka view's title says "Kafka topics 500" (the view is
#             opened with `g k` right after start);
#   kaskade:  its admin screen says "Topics [500]" and "Updated".
# Each client runs ROUNDS times (default 5); the times are printed.
#
# usage: benches/kafka_compare.sh   (needs tmux; installs kaskade into
#        ~/.cache/sitedeck/kaskade if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${ROUNDS:-5}"
KASKADE_VENV="${XDG_CACHE_HOME:-$HOME/.cache}/sitedeck/kaskade"
if [ ! -x "$KASKADE_VENV/bin/kaskade" ]; then
  python3 -m venv "$KASKADE_VENV"
  "$KASKADE_VENV/bin/pip" install --quiet kaskade
fi
cargo build --release --bin sitedeck --quiet
work="$(mktemp -d)"
fifo="$work/bench.out"
mkfifo "$fifo" "$work/bench.in"
cleanup() {
  tmux kill-session -t kafka-compare 2>/dev/null || true
  exec 3>&- 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
SITEDECK_KEEP_BROKER=1 SITEDECK_ROUNDS=1 cargo bench --bench kafka_scale <"$work/bench.in" >"$fifo" 2>/dev/null &
exec 3>"$work/bench.in"
broker="" password_file=""
while read -r line; do
  echo "$line"
  if [[ "$line" == broker* ]]; then
    broker="$(awk '{print $2}' <<<"$line")"
    password_file="$(awk '{print $7}' <<<"$line")"
    break
  fi
done <"$fifo"
[ -n "$broker" ] || { echo "the harness did not keep its broker" >&2; exit 1; }

cat >"$work/site.yaml" <<EOF
name: bench
environment: poc
probes:
  timeout_seconds: 10
kafka:
  - name: bench
    bootstrap: [$broker]
    security_protocol: SASL_PLAINTEXT
    sasl_mechanism: SCRAM-SHA-512
    username: bench
    password: {file: $password_file}
EOF
umask 077
printf '[kafka]\nbootstrap.servers = %s\nsecurity.protocol = SASL_PLAINTEXT\nsasl.mechanism = SCRAM-SHA-512\nsasl.username = bench\nsasl.password = %s\n' \
  "$broker" "$(cat "$password_file")" >"$work/kaskade.ini"

# time_until NAME MARKER... -- COMMAND...: milliseconds until every marker shows.
time_until() {
  local name="$1"; shift
  local markers=()
  while [ "$1" != "--" ]; do markers+=("$1"); shift; done
  shift
  tmux kill-session -t kafka-compare 2>/dev/null || true
  local start now screen ok
  start=$(date +%s%N)
  tmux new-session -d -s kafka-compare -x 200 -y 50 "$@"
  [ "$name" = sitedeck ] && sleep 0.3 && tmux send-keys -t kafka-compare g k
  while :; do
    screen="$(tmux capture-pane -p -t kafka-compare 2>/dev/null || true)"
    ok=1
    for m in "${markers[@]}"; do grep -qF -- "$m" <<<"$screen" || ok=0; done
    now=$(date +%s%N)
    if [ $ok = 1 ]; then echo $(((now - start) / 1000000)); break; fi
    if [ $(((now - start) / 1000000)) -gt 60000 ]; then echo "timeout"; break; fi
    sleep 0.05
  done
  tmux kill-session -t kafka-compare 2>/dev/null || true
}

for client in sitedeck kaskade; do
  times=()
  for _ in $(seq "$ROUNDS"); do
    if [ "$client" = sitedeck ]; then
      t=$(time_until sitedeck "Kafka topics 500" -- env SITEDECK_CONFIG_DIR="$work/cfg" SITEDECK_STATE_DIR="$work/state" target/release/sitedeck --site "$work/site.yaml")
    else
      t=$(time_until kaskade "Topics [500]" "Updated" -- "$KASKADE_VENV/bin/kaskade" admin --config-file "$work/kaskade.ini")
    fi
    times+=("$t")
  done
  echo "$client: ${times[*]} ms"
done
echo >&3
