#!/usr/bin/env bash
# bench/load.sh again, on a scratch copy of this tree whose Caddy (the same
# version, from the module cache) builds reverse_proxy's per-request logger
# context lazily: the one call `logger := h.logger.With(...)` in
# reverseproxy.go becomes `h.logger.WithLazy(...)`. Stock Caddy JSON-encodes
# every proxied request's headers into that context on every request, even
# when nothing is logged, so each identity header the gateway adds costs
# encoding work there. Nothing of this is shipped: it measures how much of the
# gateway's measured cost is that eager encoding.
#
#   bash bench/lazy-proxy-log.sh            # runs bench/load.sh
#   bash bench/lazy-proxy-log.sh cost.sh    # runs bench/cost.sh
#
# Takes the same variables as the script it runs (DURATION, ROUNDS, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
script=${1:-load.sh}
case $script in
load.sh | cost.sh) ;;
*) echo "usage: $0 [load.sh|cost.sh]" >&2; exit 2 ;;
esac

caddy=github.com/caddyserver/caddy/v2
version=$(go list -m -f '{{.Version}}' "$caddy")
src=$(go list -m -f '{{.Dir}}' "$caddy")
scratch=$(mktemp -d)
trap 'chmod -R u+w "$scratch"; rm -rf "$scratch"' EXIT

cp -r "$src" "$scratch/caddy"
chmod -R u+w "$scratch/caddy"
file="$scratch/caddy/modules/caddyhttp/reverseproxy/reverseproxy.go"
grep -q 'logger := h.logger.With(' "$file" || { echo "Caddy $version has no such call to change; nothing measured" >&2; exit 1; }
sed -i 's/logger := h\.logger\.With(/logger := h.logger.WithLazy(/' "$file"

mkdir "$scratch/gatehouse"
tar -c --exclude=./.git --exclude=./node_modules --exclude=./data . | tar -x -C "$scratch/gatehouse"
cd "$scratch/gatehouse"
go mod edit -replace "$caddy=$scratch/caddy"
echo "Caddy $version with reverse_proxy's logger context built lazily"
bash "bench/$script"
