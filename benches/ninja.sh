#!/usr/bin/env bash
# Prints prodigy's incremental-build timings as ratios against ninja, run in the same script:
#   no-op:        `prodigy build` of an N-node workflow (N map items, all cached)
#                 vs `ninja` on N up-to-date edges (target: under 2x).
#   --check:      `prodigy build --check` (decides every node, runs nothing)
#                 vs `ninja -n` on the same up-to-date edges.
#   1 of N changed: one item of items.json edited, then `prodigy build` (1 node runs)
#                 vs one input touched, then `ninja` (1 edge runs).
# Each row is the median of RUNS wall-clock timings; prodigy and ninja alternate.
# Installs ninja (apt-get ninja-build) when it is missing.
# Usage: benches/ninja.sh [ITEMS] [RUNS]      (defaults: 10000 items, 7 runs)
set -euo pipefail
cd "$(dirname "$0")/.."
items=${1:-10000}
runs=${2:-7}

if ! command -v ninja >/dev/null; then
  { sudo apt-get install -y ninja-build || apt-get install -y ninja-build \
    || { apt-get update -q && apt-get install -y ninja-build; }; } >/dev/null 2>&1 || true
  command -v ninja >/dev/null || { echo "ninja not found and could not be installed" >&2; exit 1; }
fi

cargo build --release --quiet
bin=$PWD/target/release/prodigy
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
repo=$work/repo      # prodigy's repository (nothing else in its tree)
nin=$work/ninja      # ninja's build directory
logs=$work/logs      # prodigy's stderr (one `Cached` line per node)
mkdir -p "$repo" "$nin/in" "$nin/out" "$logs"

# The prodigy side: N map items, no setup, no reduce.
cd "$repo"
git init -q .
git config user.name bench
git config user.email bench@example.com
python3 -c 'import json,sys; print(json.dumps([{"n": i} for i in range(int(sys.argv[1]))]))' \
  "$items" > items.json
cat > prodigy.yml <<'YAML'
name: bench
isolation: none
mode: mapreduce
map:
  input: items.json
  json_path: '$[*]'
  max_parallel: 8
  agent_template:
    - shell: 'true'
YAML
"$bin" validate prodigy.yml >/dev/null

# The ninja side: N edges `out/i.txt: touch in/i.txt`.
python3 - "$items" "$nin" <<'PY'
import os, sys
n, d = int(sys.argv[1]), sys.argv[2]
with open(os.path.join(d, "build.ninja"), "w") as f:
    f.write("rule touch\n  command = touch $out\n")
    for i in range(n):
        f.write(f"build out/{i}.txt: touch in/{i}.txt\n")
        open(os.path.join(d, "in", f"{i}.txt"), "w").close()
PY

now() { date +%s%N; }
us_since() { echo $(( ($(now) - $1) / 1000 )); }   # microseconds
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
die() { echo "ninja.sh: $*" >&2; exit 1; }

# prodigy build [args], timed; checks the summary line says "$want ran".
prodigy_build() {
  local want=$1; shift
  local t0; t0=$(now)
  "$bin" build "$@" >/dev/null 2>"$logs/err" || die "prodigy build $* failed: $(tail -3 "$logs/err")"
  local us; us=$(us_since "$t0")
  grep -q "nodes: $want ran," "$logs/err" \
    || die "prodigy build $*: expected '$want ran', got: $(grep Summary "$logs/err" || tail -3 "$logs/err")"
  echo "$us"
}
# prodigy build --check, timed; must exit 0 (up to date).
prodigy_check() {
  local t0; t0=$(now)
  "$bin" build --check >/dev/null 2>"$logs/err" || die "prodigy build --check: work pending (exit $?)"
  us_since "$t0"
}
# ninja [args], timed; checks its output matches $want.
ninja_run() {
  local want=$1; shift
  local t0; t0=$(now)
  ninja -C "$nin" "$@" >"$logs/ninja" 2>&1 || die "ninja $* failed: $(tail -3 "$logs/ninja")"
  local us; us=$(us_since "$t0")
  grep -q -- "$want" "$logs/ninja" || die "ninja $*: expected '$want', got: $(tail -2 "$logs/ninja")"
  echo "$us"
}

# Prime both.
prime_p=$(prodigy_build "$items")
prime_n=$(ninja_run "\[$items/$items\]")

# No-op, --check, and 1-of-N-changed, prodigy and ninja alternating.
noop_p=(); noop_n=(); check_p=(); check_n=(); one_p=(); one_n=()
for r in $(seq "$runs"); do
  noop_p+=("$(prodigy_build 0)")
  noop_n+=("$(ninja_run 'no work to do')")
done
for r in $(seq "$runs"); do
  check_p+=("$(prodigy_check)")
  check_n+=("$(ninja_run 'no work to do' -n)")
done
for r in $(seq "$runs"); do
  k=$(( (r * items) / (runs + 1) ))          # a different item each run
  sed -i "s/{\"n\": $k}/{\"n\": $k, \"v\": $r}/" "$repo/items.json"
  grep -q "{\"n\": $k, \"v\": $r}" "$repo/items.json" || die "could not edit item $k"
  one_p+=("$(prodigy_build 1)")
  touch "$nin/in/$k.txt"
  one_n+=("$(ninja_run '\[1/1\]')")
done

awk -v n="$items" -v runs="$runs" -v pp="$prime_p" -v pn="$prime_n" \
  -v np="$(median "${noop_p[@]}")" -v nn="$(median "${noop_n[@]}")" \
  -v cp="$(median "${check_p[@]}")" -v cn="$(median "${check_n[@]}")" \
  -v op="$(median "${one_p[@]}")" -v on="$(median "${one_n[@]}")" '
function ratio(a, b) { return b > 0 ? a / b : 0 }
function row(name, p, q) { printf "  %-28s %9.1f ms %9.1f ms %7.2fx\n", name, p / 1000, q / 1000, ratio(p, q) }
BEGIN {
  printf "incremental builds, %d nodes / edges (median of %d runs)\n", n, runs
  printf "  %-28s %12s %12s %8s\n", "", "prodigy", "ninja", "ratio"
  row("first build (all run, once)", pp, pn)
  row("no-op build", np, nn)
  row("--check / ninja -n", cp, cn)
  row(sprintf("1 of %d changed", n), op, on)
  printf "no-op: prodigy %.1f ms, ninja %.1f ms, ratio %.2fx (target < 2x)\n", np / 1000, nn / 1000, ratio(np, nn)
  printf "1 of %d changed: prodigy %.1f ms, ninja %.1f ms, ratio %.2fx\n", n, op / 1000, on / 1000, ratio(op, on)
}'
