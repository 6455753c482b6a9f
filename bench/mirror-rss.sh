#!/usr/bin/env bash
# mirror-rss.sh: the resident memory of the redirector with the record mirror on and off, over a Redis
# holding N records (default 1,000,000; every tenth a tombstone). It starts its own redis-server on a
# free port (never the machine's own Redis), builds the binary, runs it with MIRROR=on until its first
# full copy has ended, then with MIRROR=off, and prints VmRSS and VmHWM (the peak) of each, the time of
# the copy and the mirror file's size. Usage: bench/mirror-rss.sh [N]
set -euo pipefail
N=${1:-1000000}
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH GOTOOLCHAIN=go1.26.10
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

go build -o "$dir/redirector" ./cmd/redirector
rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" >"$dir/redis.log" 2>&1 &
until redis-cli -p "$rport" ping >/dev/null 2>&1; do sleep 0.1; done
now=$(date +%s000)
python3 - "$N" "$now" <<'PY' | redis-cli -p "$rport" --pipe >/dev/null
import sys
n, now = int(sys.argv[1]), sys.argv[2]
out = sys.stdout
def cmd(*args):
    out.write("*%d\r\n" % len(args))
    for a in args:
        out.write("$%d\r\n%s\r\n" % (len(a), a))
for i in range(n):
    args = ["HSET", "rd:v1:{b%07d}:rec" % i, "target", "https://www.aliexpress.com/item/%d.html" % (1005000000000000 + i),
            "created", now, "updated", now]
    if i % 10 == 3:
        args += ["deleted", "1"]
    cmd(*args)
PY
echo "redis: $(redis-cli -p "$rport" dbsize) keys"

run() { # run MIRROR: starts the service, waits, prints its memory
    local mode=$1 port; port=$(free_port)
    env -i PATH="$PATH" REDIS_URL="redis://127.0.0.1:$rport/0" BASE_URL="http://127.0.0.1:$port" LISTEN_ADDR="127.0.0.1:$port" \
        ALIEXPRESS_APP_KEY=k ALIEXPRESS_APP_SECRET=s ALIEXPRESS_TRACKING_ID=t DATA_DIR="$dir/data" MIRROR="$mode" \
        "$dir/redirector" >"$dir/$mode.log" 2>&1 &
    local pid=$! start; start=$(date +%s.%N)
    if [ "$mode" = on ]; then
        until grep -q '"msg":"mirror full copy","path"[^}]*"records"' "$dir/$mode.log"; do sleep 0.2; done
        grep '"msg":"mirror full copy"' "$dir/$mode.log" | head -1
    else
        until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.1; done
        sleep 5
    fi
    echo "MIRROR=$mode: $(grep -E 'VmRSS|VmHWM|RssAnon|RssFile' /proc/$pid/status | tr -s ' \t' ' ' | tr '\n' ' ')"
    kill "$pid"; wait "$pid" || true
}
run on
ls -l "$dir/data/mirror.db" | awk '{printf "mirror.db: %.1f MiB\n", $5/1048576}'
run off
