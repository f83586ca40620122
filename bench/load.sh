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

work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UP=$(free_port); PLAIN=$(free_port); GUARDED=$(free_port); ISSUER=$(free_port)
ECHO=$(free_port); CTRL_SESSION=$(free_port); CTRL_BEARER=$(free_port)
# The machine client's secret: random per run, never a real secret.
client_secret=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')

go build -o "$work/gatehouse" ./cmd/gatehouse

cat >"$work/Caddyfile" <<EOF
{
	admin unix/$work/admin.sock
	default_bind 127.0.0.1
	gatehouse {
		pool default {
			store sqlite $work/gatehouse.db
			issuer http://127.0.0.1:$ISSUER
			client loadtest {
				secret $client_secret
				grant_types client_credentials
				scopes api/read
			}
		}
	}
}

# The trivial upstream.
http://:$UP {
	respond "ok" 200
}

# (a) reverse_proxy alone.
http://:$PLAIN {
	reverse_proxy 127.0.0.1:$UP
}

# The pool's OpenID provider, for (c)'s token.
http://:$ISSUER {
	gatehouse_idp {
		pool default
	}
	respond "issuer" 200
}

# (b) and (c): the same, guarded. A browser takes the renewed cookie at each
# claims refresh (5 min by default); wrk sends one cookie for the whole run,
# so the interval is set past the run's length to measure the steady state.
http://:$GUARDED {
	gatehouse {
		pool default
		claims_refresh 1h
	}
	reverse_proxy 127.0.0.1:$UP
}

# What the gateway sends upstream, for the controls (d) and (e).
http://:$ECHO {
	gatehouse {
		pool default
		claims_refresh 1h
	}
	respond "{header.X-Amzn-Oidc-Identity} {header.X-Amzn-Oidc-Data} {header.X-Auth-Request-User} {header.X-Auth-Request-Email} {header.X-Auth-Request-Groups}" 200
}
EOF

"$work/gatehouse" run --config "$work/Caddyfile" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do
	curl -fsS -o /dev/null "http://127.0.0.1:$PLAIN/" 2>/dev/null && break
	sleep 0.1
done

email=load@example.com
password='a long enough password for wrk runs'
"$work/gatehouse" users create --config "$work/Caddyfile" --email "$email" --password "$password" --group staff >/dev/null

# Sign in as a browser would, and keep the session cookie.
jar="$work/jar"
page=$(curl -fsS -c "$jar" -b "$jar" "http://127.0.0.1:$GUARDED/_gatehouse/signin?rd=/")
csrf=$(printf '%s' "$page" | grep -o 'name="csrf" value="[^"]*"' | sed 's/.*value="//; s/"$//')
curl -fsS -o /dev/null -c "$jar" -b "$jar" -H "Origin: http://127.0.0.1:$GUARDED" \
	--data-urlencode "csrf=$csrf" --data-urlencode "rd=/" \
	--data-urlencode "email=$email" --data-urlencode "password=$password" \
	"http://127.0.0.1:$GUARDED/_gatehouse/signin"
cookie=$(awk '$6 ~ /^gatehouse_session/ { printf "%s%s=%s", sep, $6, $7; sep="; " }' "$jar")
[ -n "$cookie" ] || { echo "sign-in failed: no session cookie" >&2; cat "$work/server.log" >&2; exit 1; }
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $cookie" "http://127.0.0.1:$GUARDED/")
[ "$status" = 200 ] || { echo "the session cookie does not pass the gateway (status $status)" >&2; exit 1; }

# (c)'s access token, as a machine client gets one.
token=$(curl -fsS -u "loadtest:$client_secret" -d grant_type=client_credentials -d scope=api/read \
	"http://127.0.0.1:$ISSUER/oauth2/token" | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" -H "Accept: application/json" "http://127.0.0.1:$GUARDED/")
[ "$status" = 200 ] || { echo "the bearer token does not pass the gateway (status $status)" >&2; exit 1; }

# control PORT CREDENTIAL_HEADER: a reverse_proxy site adding the identity
# headers the gateway gives a request with that credential, as Caddy's own
# header_up; the session cookie is removed as the gateway removes it.
control() {
	local values id data user email groups
	values=$(curl -fsS -H "$2" "http://127.0.0.1:$ECHO/")
	read -r id data user email groups <<<"$values"
	[ -n "$id" ] && [ -n "$data" ] || { echo "the echo site gave no identity for $2" >&2; exit 1; }
	echo "http://:$1 {"
	echo "	reverse_proxy 127.0.0.1:$UP {"
	echo "		header_up -Cookie"
	echo "		header_up X-Amzn-Oidc-Identity \"$id\""
	echo "		header_up X-Amzn-Oidc-Data \"$data\""
	for kv in "X-Auth-Request-User:$user" "X-Auth-Request-Email:$email" "X-Auth-Request-Groups:$groups"; do
		[ -n "${kv#*:}" ] && echo "		header_up ${kv%%:*} \"${kv#*:}\""
	done
	echo "	}"
	echo "}"
}
{
	cat "$work/Caddyfile"
	echo
	echo "# (d) and (e): the controls."
	control "$CTRL_SESSION" "Cookie: $cookie"
	control "$CTRL_BEARER" "Authorization: Bearer $token"
} >"$work/Caddyfile.controls"
curl -fsS --unix-socket "$work/admin.sock" -H "Content-Type: text/caddyfile" \
	--data-binary @"$work/Caddyfile.controls" http://localhost/load
for _ in $(seq 100); do
	curl -fsS -o /dev/null "http://127.0.0.1:$CTRL_BEARER/" 2>/dev/null && break
	sleep 0.1
done
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $cookie" "http://127.0.0.1:$GUARDED/")
[ "$status" = 200 ] || { echo "the session cookie does not pass the gateway after the reload (status $status)" >&2; exit 1; }

# cpu_ticks: CPU time the server process (gateway, proxy and the trivial
# upstream alike) has used so far, in clock ticks (utime + stime).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$server/stat"; }
HZ=$(getconf CLK_TCK)

# measure NAME URL [HEADER]: one wrk run; prints "rps p50_ms p99_ms
# cpu_us_per_request". The last is the server's CPU time over the requests
# served: what each request costs the server, which steal time and noisy
# neighbours on a VM move far less than they move throughput.
measure() {
	local out t0 t1
	t0=$(cpu_ticks)
	if [ -n "${3:-}" ]; then
		out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "$3" "$2")
	else
		out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$2")
	fi
	if printf '%s' "$out" | grep -q 'Non-2xx'; then
		echo "$1: non-2xx responses:" >&2
		printf '%s\n' "$out" >&2
		exit 1
	fi
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
cases=(a b c d e)
declare -A label=(
	[a]="(a) reverse_proxy"
	[b]="(b) gatehouse + session"
	[c]="(c) gatehouse + bearer"
	[d]="(d) control: (b)'s headers"
	[e]="(e) control: (c)'s headers"
)
# (a) and (d) get the same Cookie header as (b): a browser sends it either
# way, and parsing it is not the gateway's cost.
declare -A url=([a]=$PLAIN [b]=$GUARDED [c]=$GUARDED [d]=$CTRL_SESSION [e]=$CTRL_BEARER)
declare -A cred=(
	[a]="Cookie: $cookie" [b]="Cookie: $cookie" [c]="Authorization: Bearer $token"
	[d]="Cookie: $cookie" [e]="Authorization: Bearer $token"
)
declare -A rows=() ratios=()
for round in $(seq "$ROUNDS"); do
	declare -A rps=()
	for k in "${cases[@]}"; do
		read -r r p50 p99 cpu < <(measure "$k" "http://127.0.0.1:${url[$k]}/" "${cred[$k]}")
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
median() { grep . | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
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
echo "the gateway against Caddy adding the same headers itself:"
printf '  (b)/(d): throughput %s, p99 %s; rounds'"'"' own ratios %.3f\n' "$(ratio b d 1)" "$(ratio b d 3)" "$(printf '%s' "${ratios[b/d]}" | median)"
printf '  (c)/(e): throughput %s, p99 %s; rounds'"'"' own ratios %.3f\n' "$(ratio c e 1)" "$(ratio c e 3)" "$(printf '%s' "${ratios[c/e]}" | median)"
awk -v a="$(med a 4)" -v b="$(med b 4)" -v c="$(med c 4)" -v d="$(med d 4)" -v e="$(med e 4)" 'BEGIN {
	printf "server CPU per request over (a): (b) %+.1f us, (c) %+.1f us; over its control: (b) %+.1f us, (c) %+.1f us\n", b - a, c - a, b - d, c - e
}'
# The server's peak resident memory over the whole run (all sites in one
# process), and what it holds now.
awk '/^VmHWM|^VmRSS/ { printf "server %s %.1f MB\n", ($1 == "VmHWM:" ? "peak resident memory" : "resident memory at the end"), $2 / 1024 }' "/proc/$server/status"
