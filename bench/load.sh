#!/usr/bin/env bash
# Load test on loopback, in one run: (a) Caddy reverse_proxy alone to a
# trivial upstream, (b) the same route behind the gatehouse handler with a
# valid session cookie, (c) the same guarded route called as an API with a
# bearer access token from the pool's /oauth2/token (client_credentials).
# Prints requests/s and latency p50/p99 for each and the ratios (b)/(a) and
# (c)/(a). Every request goes to 127.0.0.1; the run is bounded by
# DURATION per measurement and stops by itself.
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
# The machine client's secret: random per run, never a real secret.
client_secret=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')

go build -o "$work/gatehouse" ./cmd/gatehouse

cat >"$work/Caddyfile" <<EOF
{
	admin off
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

# (b) and (c): the same, guarded.
http://:$GUARDED {
	gatehouse {
		pool default
	}
	reverse_proxy 127.0.0.1:$UP
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
echo "wrk: $THREADS thread(s), $CONNECTIONS connections, $DURATION per measurement, $ROUNDS rounds (a, b and c alternate)"
printf '%-6s %-28s %12s %10s %10s %12s\n' round case req/s p50_ms p99_ms cpu_us/req
a_all=(); b_all=(); c_all=(); ratios_b=(); ratios_c=()
for round in $(seq "$ROUNDS"); do
	# (a) gets the same Cookie header: a browser sends it either way, and
	# parsing and forwarding it is not the gateway's cost.
	read -r ar ap50 ap99 acpu < <(measure plain "http://127.0.0.1:$PLAIN/" "Cookie: $cookie")
	printf '%-6s %-28s %12s %10s %10s %12s\n' "$round" "(a) reverse_proxy" "$ar" "$ap50" "$ap99" "$acpu"
	read -r br bp50 bp99 bcpu < <(measure guarded "http://127.0.0.1:$GUARDED/" "Cookie: $cookie")
	printf '%-6s %-28s %12s %10s %10s %12s\n' "$round" "(b) gatehouse + session" "$br" "$bp50" "$bp99" "$bcpu"
	read -r cr cp50 cp99 ccpu < <(measure bearer "http://127.0.0.1:$GUARDED/" "Authorization: Bearer $token")
	printf '%-6s %-28s %12s %10s %10s %12s\n' "$round" "(c) gatehouse + bearer" "$cr" "$cp50" "$cp99" "$ccpu"
	a_all+=("$ar $ap50 $ap99 $acpu"); b_all+=("$br $bp50 $bp99 $bcpu"); c_all+=("$cr $cp50 $cp99 $ccpu")
	# Each round's own ratio: (a), (b) and (c) ran back to back, so a
	# slow spell of the VM weighs on all three.
	ratios_b+=("$(awk -v a="$ar" -v b="$br" 'BEGIN { print b / a }')")
	ratios_c+=("$(awk -v a="$ar" -v c="$cr" 'BEGIN { print c / a }')")
done

# Medians over the rounds, then the ratios.
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { local i=$1; shift; for row in "$@"; do echo "$row" | awk -v i="$i" '{ print $i }'; done; }
ar=$(col 1 "${a_all[@]}" | median); ap99=$(col 3 "${a_all[@]}" | median); ap50=$(col 2 "${a_all[@]}" | median)
br=$(col 1 "${b_all[@]}" | median); bp99=$(col 3 "${b_all[@]}" | median); bp50=$(col 2 "${b_all[@]}" | median)
cr=$(col 1 "${c_all[@]}" | median); cp99=$(col 3 "${c_all[@]}" | median); cp50=$(col 2 "${c_all[@]}" | median)
echo
printf 'median (a): %s req/s, p50 %s ms, p99 %s ms\n' "$ar" "$ap50" "$ap99"
printf 'median (b): %s req/s, p50 %s ms, p99 %s ms\n' "$br" "$bp50" "$bp99"
printf 'median (c): %s req/s, p50 %s ms, p99 %s ms\n' "$cr" "$cp50" "$cp99"
awk -v a="$ar" -v b="$br" -v ap="$ap99" -v bp="$bp99" 'BEGIN {
	printf "ratio (b)/(a): throughput %.3f (target >= 0.97), p99 %.3f (target <= 1.10)\n", b / a, bp / ap
}'
awk -v a="$ar" -v c="$cr" -v ap="$ap99" -v cp="$cp99" 'BEGIN {
	printf "ratio (c)/(a): throughput %.3f, p99 %.3f\n", c / a, cp / ap
}'
acpu=$(col 4 "${a_all[@]}" | median); bcpu=$(col 4 "${b_all[@]}" | median); ccpu=$(col 4 "${c_all[@]}" | median)
printf 'median of the rounds'"'"' own ratios: (b)/(a) %.3f, (c)/(a) %.3f\n' \
	"$(printf '%s\n' "${ratios_b[@]}" | median)" "$(printf '%s\n' "${ratios_c[@]}" | median)"
printf 'server CPU per request (median): (a) %s us, (b) %s us, (c) %s us; the gateway adds %s us (b) and %s us (c)\n' \
	"$acpu" "$bcpu" "$ccpu" "$(awk -v a="$acpu" -v b="$bcpu" 'BEGIN { printf "%.1f", b - a }')" "$(awk -v a="$acpu" -v c="$ccpu" 'BEGIN { printf "%.1f", c - a }')"
