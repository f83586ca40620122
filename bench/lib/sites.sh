# Shared by bench/load.sh and bench/cost.sh (sourced from the repository
# root): builds Gatehouse, starts one server on loopback with every site the
# measurements need, signs in as a browser would and gets a machine token,
# then adds the control sites. Afterwards these are set:
#
#   server        the server's PID
#   work          its scratch directory (removed on exit)
#   PLAIN         (a) reverse_proxy alone
#   GUARDED       (b) and (c): the gatehouse handler in front of it
#   CTRL_SESSION  (d) Caddy's header_up adding (b)'s headers
#   CTRL_BEARER   (e) the same for (c)'s headers
#   cookie        a Cookie header value with a valid session
#   token         a bearer access token (client_credentials)
#   cases, label, url, cred   the cases (a) to (e), below
#
# SERVER_WRAPPER (an array, empty by default) is put before the server's
# command, e.g. valgrind; STARTUP_TRIES is how many tenths of a second to wait
# for a site to answer (default 100).
# A failure inside $(...) ends the script, as it would outside one.
shopt -s inherit_errexit
: "${STARTUP_TRIES:=100}"
if ! declare -p SERVER_WRAPPER >/dev/null 2>&1; then SERVER_WRAPPER=(); fi
# cleanup_dirs (an array) lists more directories to remove on exit.
if ! declare -p cleanup_dirs >/dev/null 2>&1; then cleanup_dirs=(); fi
# GUARD_OPTIONS adds lines to the guarded sites' gatehouse blocks (e.g.
# GUARD_OPTIONS="header off"); the controls follow what the gateway then sends.
: "${GUARD_OPTIONS:=}"
# A line of its own only when there is something, so that the Caddyfile
# stays as `caddy fmt` writes it (Caddy warns otherwise).
guard_options_lines=""
[ -z "$GUARD_OPTIONS" ] || guard_options_lines=$'\n\t\t'"$GUARD_OPTIONS"
# PROXY_LOG=off leaves reverse_proxy's logger out of Caddy's default log (see
# bench/README.md): every case then runs without its per-request log context.
: "${PROXY_LOG:=on}"
case $PROXY_LOG in
on) proxy_log_option="" ;;
off) proxy_log_option=$'\tlog default {\n\t\texclude http.handlers.reverse_proxy\n\t}' ;;
*) echo "PROXY_LOG is on or off, not $PROXY_LOG" >&2; exit 2 ;;
esac

work=$(mktemp -d)
server=""
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work" "${cleanup_dirs[@]}"' EXIT

# Seven distinct free ports, held open together while they are picked so
# that no two sites get the same one.
read -r UP PLAIN GUARDED ISSUER ECHO CTRL_SESSION CTRL_BEARER < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(7)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')
# The machine client's secret: random per run, never a real secret.
client_secret=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')

go build -o "$work/gatehouse" ./cmd/gatehouse

cat >"$work/Caddyfile" <<EOF
{
	admin unix/$work/admin.sock
	default_bind 127.0.0.1
$proxy_log_option
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
		claims_refresh 1h$guard_options_lines
	}
	reverse_proxy 127.0.0.1:$UP
}

# What the gateway sends upstream, for the controls (d) and (e).
http://:$ECHO {
	gatehouse {
		pool default
		claims_refresh 1h$guard_options_lines
	}
	respond "{header.X-Amzn-Oidc-Identity} {header.X-Amzn-Oidc-Data} {header.X-Auth-Request-User} {header.X-Auth-Request-Email} {header.X-Auth-Request-Groups}" 200
}
EOF

"${SERVER_WRAPPER[@]}" "$work/gatehouse" run --config "$work/Caddyfile" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq "$STARTUP_TRIES"); do
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
for _ in $(seq "$STARTUP_TRIES"); do
	curl -fsS -o /dev/null "http://127.0.0.1:$CTRL_BEARER/" 2>/dev/null && break
	sleep 0.1
done
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $cookie" "http://127.0.0.1:$GUARDED/")
[ "$status" = 200 ] || { echo "the session cookie does not pass the gateway after the reload (status $status)" >&2; exit 1; }

# The cases, in the order each round runs them: the site each one calls
# and the credential it sends. (a) and (d) get the same Cookie header as (b):
# a browser sends it either way, and parsing it is not the gateway's cost.
cases=(a b c d e)
declare -A label=(
	[a]="(a) reverse_proxy"
	[b]="(b) gatehouse + session"
	[c]="(c) gatehouse + bearer"
	[d]="(d) control: (b)'s headers"
	[e]="(e) control: (c)'s headers"
)
declare -A url=([a]=$PLAIN [b]=$GUARDED [c]=$GUARDED [d]=$CTRL_SESSION [e]=$CTRL_BEARER)
declare -A cred=(
	[a]="Cookie: $cookie" [b]="Cookie: $cookie" [c]="Authorization: Bearer $token"
	[d]="Cookie: $cookie" [e]="Authorization: Bearer $token"
)

# median reads numbers, one a line, and prints their median.
median() { grep . | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# quartiles: the first and third quartile of the numbers on stdin (nearest
# rank), printed as "q1 to q3".
quartiles() { grep . | sort -g | awk '{ v[NR] = $1 } END { lo = int((NR + 3) / 4); hi = int((3 * NR + 3) / 4); printf "%.3f to %.3f", v[lo], v[hi] }'; }

# wrk_checked NAME WRK_ARGS...: runs wrk and prints its report. A response
# other than 2xx, or no request served at all, ends the script: such a run
# measures nothing.
wrk_checked() {
	local name=$1 out n
	shift
	out=$(wrk "$@")
	n=$(printf '%s' "$out" | awk '/requests in/ { print $1 }')
	if printf '%s' "$out" | grep -q 'Non-2xx' || [ "${n:-0}" -eq 0 ]; then
		echo "$name: non-2xx responses or none served:" >&2
		printf '%s\n' "$out" >&2
		exit 1
	fi
	printf '%s\n' "$out"
}
