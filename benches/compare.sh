#!/usr/bin/env bash
# Prints prodigy's timings as ratios against baselines run in the same script:
#   map overhead: 2,000 trivial map items (isolation: none, max_parallel 2)
#                 vs `xargs -P2` running the same command (target: within 1.5x).
# Usage: benches/compare.sh [ITEMS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
items=${1:-2000}
runs=${2:-5}
cargo build --release --quiet
bin=$PWD/target/release/prodigy
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
git init -q .
seq 1 "$items" | python3 -c 'import json,sys; print(json.dumps([int(l) for l in sys.stdin]))' > items.json
cat > map.yml <<YAML
name: overhead
mode: mapreduce
isolation: none
map:
  input: items.json
  max_parallel: 2
  agent_template:
    - shell: "true \${item}"
YAML

now() { date +%s%N; }
# median of N timings (ms) of a command
median_ms() {
  local times=()
  for _ in $(seq "$runs"); do
    local t0; t0=$(now)
    "$@" >/dev/null 2>&1
    local t1; t1=$(now)
    times+=($(( (t1 - t0) / 1000000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

base=$(median_ms sh -c "seq 1 $items | xargs -P2 -n1 true")
ours=$(median_ms "$bin" run map.yml)
awk -v b="$base" -v o="$ours" -v n="$items" 'BEGIN {
  printf "map overhead, %d items, 2 workers (median of runs)\n", n
  printf "  xargs -P2        %6d ms  (%.2f ms/item)\n", b, b / n
  printf "  prodigy run      %6d ms  (%.2f ms/item)\n", o, o / n
  printf "  ratio            %6.2fx   (target: under 1.5x)\n", o / b
}'
