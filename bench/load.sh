#!/usr/bin/env bash
# Load test on loopback, in one run: (a) Caddy reverse_proxy alone to a
# trivial upstream, (b) the same route behind the gatehouse handler with a
# valid session cookie, (c) the same guarded route called as an API with a
# bearer access token from the pool's /oauth2/token (client_credentials).
# Prints requests/s and latency p50/p99 for each and the ratios (b)/(a) and
# (c)/(a). Every request goes to 127.0.0.1; the run is bounded by
# DURATION per measurement and stops by itself.
#
# Two controls split what the gateway costs from what carrying identity
# headers costs Caddy: (d) is (a) with the very headers (b) sends upstream
# added by `header_up` and the session cookie removed, (e) the same for (c)'s
# headers, with the bearer token passed on as the gateway passes it. The
# script reads those values from the gateway itself (an echo site) and
# reloads Caddy with the controls through a unix-socket admin endpoint.
#
#   bash bench/load.sh                 # defaults: 10s per round, 3 rounds
#   DURATION=20s ROUNDS=5 CONNECTIONS=64 bash bench/load.sh
#
# Needs wrk (apt-get install -y wrk) and curl.
set -euo pipefail

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}

cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }

source bench/lib/sites.sh

# cpu_ticks: CPU time the server process (gateway, proxy and the trivial
# upstream alike) has used so far, in clock ticks (utime + stime).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$server/stat"; }
HZ=$(getconf CLK_TCK)

# measure NAME URL HEADER: one wrk run; prints "rps p50_ms p99_ms
# cpu_us_per_request". The last is the server's CPU time over the requests
# served: what each request costs the server, which steal time and noisy
# neighbours on a VM move far less than they move throughput.
measure() {
	local out t0 t1
	t0=$(cpu_ticks)
	out=$(wrk_checked "$1" -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "$3" "$2")
	t1=$(cpu_ticks)
	local rps p50 p99 n
	rps=$(printf '%s' "$out" | awk '/^Requests\/sec/ { print $2 }')
	p50=$(printf '%s' "$out" | awk '$1 == "50%" { print $2 }')
	p99=$(printf '%s' "$out" | awk '$1 == "99%" { print $2 }')
	n=$(printf '%s' "$out" | awk '/requests in/ { print $1 }')
	echo "$rps $(to_ms "$p50") $(to_ms "$p99") $(awk -v d=$((t1 - t0)) -v n="$n" -v hz="$HZ" 'BEGIN { printf "%.1f", d * 1e6 / hz / n }')"
}

# to_ms converts wrk's "812.00us" / "1.20ms" / "1.01s" to milliseconds.
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0
		if (v ~ /us$/) n /= 1000
		else if (v ~ /ms$/) n = n
		else if (v ~ /s$/) n *= 1000
		printf "%.3f", n
	}'
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "wrk: $THREADS thread(s), $CONNECTIONS connections, $DURATION per measurement, $ROUNDS rounds (a to e alternate)"
printf '%-6s %-34s %12s %10s %10s %12s\n' round case req/s p50_ms p99_ms cpu_us/req
declare -A rows=() ratios=()
for round in $(seq "$ROUNDS"); do
	declare -A rps=()
	for k in "${cases[@]}"; do
		result=$(measure "$k" "http://127.0.0.1:${url[$k]}/" "${cred[$k]}")
		read -r r p50 p99 cpu <<<"$result"
		printf '%-6s %-34s %12s %10s %10s %12s\n' "$round" "${label[$k]}" "$r" "$p50" "$p99" "$cpu"
		rows[$k]+="$r $p50 $p99 $cpu"$'\n'
		rps[$k]=$r
	done
	# Each round's own ratios: the cases ran back to back, so a slow
	# spell of the VM weighs on all of them.
	for pair in b/a c/a b/d c/e; do
		ratios[$pair]+="$(awk -v x="${rps[${pair%/*}]}" -v y="${rps[${pair#*/}]}" 'BEGIN { print x / y }')"$'\n'
	done
done

# Medians over the rounds, then the ratios.
med() { printf '%s' "${rows[$1]}" | awk -v i="$2" '{ print $i }' | median; }
echo
for k in "${cases[@]}"; do
	printf 'median %-34s %s req/s, p50 %s ms, p99 %s ms, CPU %s us/req\n' "${label[$k]}:" "$(med "$k" 1)" "$(med "$k" 2)" "$(med "$k" 3)" "$(med "$k" 4)"
done
ratio() { awk -v x="$(med "$1" "$3")" -v y="$(med "$2" "$3")" 'BEGIN { printf "%.3f", x / y }'; }
echo
printf 'ratio (b)/(a): throughput %s (target >= 0.97), p99 %s (target <= 1.10)\n' "$(ratio b a 1)" "$(ratio b a 3)"
printf 'ratio (c)/(a): throughput %s (target >= 0.95), p99 %s (target <= 1.10)\n' "$(ratio c a 1)" "$(ratio c a 3)"
printf 'median of the rounds'"'"' own ratios: (b)/(a) %.3f, (c)/(a) %.3f\n' \
	"$(printf '%s' "${ratios[b/a]}" | median)" "$(printf '%s' "${ratios[c/a]}" | median)"
# How far one round's ratio strays: when the middle half of the rounds
# spans more than a target's margin, this run cannot say which side of the
# target the case is on, and more rounds (or cost.sh) are needed.
printf 'middle half of the rounds'"'"' own ratios: (b)/(a) %s, (c)/(a) %s\n' \
	"$(printf '%s' "${ratios[b/a]}" | quartiles)" "$(printf '%s' "${ratios[c/a]}" | quartiles)"
echo "the gateway against Caddy adding the same headers itself:"
printf '  (b)/(d): throughput %s, p99 %s; rounds'"'"' own ratios %.3f\n' "$(ratio b d 1)" "$(ratio b d 3)" "$(printf '%s' "${ratios[b/d]}" | median)"
printf '  (c)/(e): throughput %s, p99 %s; rounds'"'"' own ratios %.3f\n' "$(ratio c e 1)" "$(ratio c e 3)" "$(printf '%s' "${ratios[c/e]}" | median)"
awk -v a="$(med a 4)" -v b="$(med b 4)" -v c="$(med c 4)" -v d="$(med d 4)" -v e="$(med e 4)" 'BEGIN {
	printf "server CPU per request over (a): (b) %+.1f us, (c) %+.1f us; over its control: (b) %+.1f us, (c) %+.1f us\n", b - a, c - a, b - d, c - e
}'
# The server's peak resident memory over the whole run (all sites in one
# process), and what it holds now.
awk '/^VmHWM|^VmRSS/ { printf "server %s %.1f MB\n", ($1 == "VmHWM:" ? "peak resident memory" : "resident memory at the end"), $2 / 1024 }' "/proc/$server/status"
