#!/usr/bin/env bash
# What each request costs the server, in CPU instructions counted by
# valgrind's callgrind, for the cases of bench/load.sh: (a) reverse_proxy
# alone, (b) the gateway with a session cookie, (c) with a bearer token, and
# the controls (d) and (e), Caddy's header_up adding the same headers.
#
# load.sh's requests/s move by 10 to 25 % between identical rounds on a
# shared VM, more than the few per cent it is meant to resolve. An
# instruction count is the same for the same binary and requests whatever
# else the machine does, so the ratios here repeat to a few per cent (about
# 1 % with GOGC=off). They are a cost, not a speed: cache misses, the kernel
# and the client's own CPU are not in them, and a per-byte scan of a header
# runs many instructions a cycle where an allocation runs few, so they
# compare like with like (the controls, lazy logging) better than (b) with
# (a). The printed ratio, instructions(a) / instructions(case), would be
# the throughput ratio of a CPU-bound server if every instruction took the
# same time (bench/README.md).
#
# The server runs under callgrind (about 50 times slower), so each case is a
# few thousand requests over a few connections. Between cases the counters
# are zeroed and dumped through callgrind_control; every instruction of the
# process (gateway, proxy, the trivial upstream in the same process, the
# garbage collector and background refreshes) counts.
#
#   bash bench/cost.sh                      # defaults: 15s per case, 3 rounds
#   DURATION=30s ROUNDS=5 bash bench/cost.sh
#   bash bench/lazy-proxy-log.sh cost.sh    # the same with Caddy's proxy log context made lazy
#
# Needs valgrind, wrk and curl (apt-get install -y valgrind wrk).
set -euo pipefail

DURATION=${DURATION:-15s}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-4}

cd "$(dirname "$0")/.."
for tool in wrk valgrind callgrind_control; do
	command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install -y wrk valgrind" >&2; exit 1; }
done

# Go's asynchronous preemption signals trip callgrind's signal handling;
# goroutines are still preempted at function calls.
export GODEBUG=asyncpreemptoff=1${GODEBUG:+,$GODEBUG}
callgrind_out=$(mktemp -d)
cleanup_dirs=("$callgrind_out")
SERVER_WRAPPER=(valgrind --tool=callgrind --callgrind-out-file="$callgrind_out/callgrind.out")
STARTUP_TRIES=3000 # a site under callgrind takes a minute or more to start
source bench/lib/sites.sh

# instructions NAME URL HEADER: zero callgrind's counters, run wrk, dump them;
# prints "requests instructions_per_request".
instructions() {
	local out n dump
	callgrind_control --zero "$server" >/dev/null 2>&1 || { echo "callgrind_control could not reach the server" >&2; exit 1; }
	out=$(wrk_checked "$1" -t1 -c"$CONNECTIONS" -d"$DURATION" -H "$3" "$2")
	callgrind_control --dump="$1" "$server" >/dev/null 2>&1 || { echo "callgrind_control could not reach the server" >&2; exit 1; }
	n=$(printf '%s' "$out" | awk '/requests in/ { print $1 }')
	# callgrind_control returns once the dump is written; its trigger line
	# names the case.
	dump=$(grep -l "^desc: Trigger: dump $1\$" "$callgrind_out"/callgrind.out.* 2>/dev/null | tail -1 || true)
	[ -n "$dump" ] || { echo "$1: callgrind wrote no dump" >&2; exit 1; }
	awk -v n="$n" '/^(summary|totals):/ { printf "%d %.0f\n", n, $2 / n; exit }' "$dump"
	rm -f "$dump"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "callgrind: $CONNECTIONS connections, $DURATION per case, $ROUNDS rounds (a to e alternate)"
printf '%-6s %-34s %10s %16s\n' round case requests instr/request
declare -A rows=()
for round in $(seq "$ROUNDS"); do
	for k in "${cases[@]}"; do
		result=$(instructions "case-$k-$round" "http://127.0.0.1:${url[$k]}/" "${cred[$k]}")
		read -r n per <<<"$result"
		printf '%-6s %-34s %10s %16s\n' "$round" "${label[$k]}" "$n" "$per"
		rows[$k]+="$per"$'\n'
	done
done

declare -A med=()
echo
for k in "${cases[@]}"; do
	med[$k]=$(printf '%s' "${rows[$k]}" | median)
	printf 'median %-34s %s instructions/request (rounds: %s)\n' "${label[$k]}:" "${med[$k]}" "$(printf '%s' "${rows[$k]}" | paste -sd' ')"
done
ratio() { awk -v x="${med[$1]}" -v y="${med[$2]}" 'BEGIN { printf "%.3f", y / x }'; }
echo
printf 'cost ratio (a)/(b): %s (load target for (b)/(a) throughput: >= 0.97)\n' "$(ratio b a)"
printf 'cost ratio (a)/(c): %s (load target for (c)/(a) throughput: >= 0.95)\n' "$(ratio c a)"
printf 'against Caddy adding the same headers itself: (d)/(b) %s, (e)/(c) %s\n' "$(ratio b d)" "$(ratio c e)"
awk -v a="${med[a]}" -v b="${med[b]}" -v c="${med[c]}" 'BEGIN {
	printf "instructions per request over (a): (b) %+d, (c) %+d\n", b - a, c - a
}'
