#!/bin/sh
# roundtrip.sh BIN MODE [RUN FLAGS...]: one fresh 'BIN loadgen serve' (the
# real platform, or the gateway alone when MODE is bare-app or bare-p2p), one
# 'BIN loadgen run -mode app|p2p' against it, then one line of figures:
#
#   BIN MODE delivered/s p50 p99 errors rss-load server-cpu-us/event fdatasync/event write/event pwrite/event load
#
# The server's CPU (utime+stime from /proc) and its system calls (perf stat
# tracepoints, attached to the server) are counted from the moment every
# connection is open until the run ends. Environment: CONNS (2000), SENDERS
# (1000), DURATION (10s), PORT (8187), PROFILE (a file: the server writes a
# CPU profile of the whole run to it), PPROF (a file prefix: profiles of the
# server while the load runs, from its -pprof endpoint: PPROF.cpu for the
# middle 6 s of the run, and PPROF.block, PPROF.mutex and PPROF.allocs from
# the moment every connection is open, each with PPROF.*.base, to give to
# 'go tool pprof -diff_base'). Needs a build with 'loadgen serve -pprof'.
set -eu
bin=$1 mode=$2
shift 2
conns=${CONNS:-2000} senders=${SENDERS:-1000} duration=${DURATION:-10s} port=${PORT:-8187}
dir=$(mktemp -d /tmp/roundtrip.XXXXXX)
trap 'kill $spid 2>/dev/null; wait $spid 2>/dev/null; rm -rf "$dir"' EXIT
prof=""
[ -n "${PROFILE:-}" ] && prof="-cpuprofile $PROFILE"
pp=127.0.0.1:$((port + 1))
[ -n "${PPROF:-}" ] && prof="$prof -pprof $pp"
case $mode in
bare-*)
	$bin loadgen serve -gateway-only -addr 127.0.0.1:$port -db "$dir/lg.db" -secret s3 $prof >"$dir/serve.out" 2>&1 &
	auth="-secret s3" runmode=${mode#bare-} ;;
*)
	$bin loadgen serve -addr 127.0.0.1:$port -people $conns -tokens "$dir/tokens.txt" $prof >"$dir/serve.out" 2>&1 &
	auth="-tokens $dir/tokens.txt" runmode=$mode ;;
esac
spid=$!
i=0
until grep -q '^loadgen serve: pid' "$dir/serve.out" 2>/dev/null; do
	i=$((i + 1))
	[ $i -gt 600 ] && { cat "$dir/serve.out" >&2; exit 1; }
	sleep 0.2
done
if [ -n "${WARMUP:-}" ]; then
	$bin loadgen run -addr 127.0.0.1:$port $auth -conns $conns -senders $senders -duration $WARMUP -mode $runmode "$@" >"$dir/warmup.out" 2>&1 ||
		{ cat "$dir/warmup.out" >&2; exit 1; }
fi
$bin loadgen run -addr 127.0.0.1:$port $auth -conns $conns -senders $senders -duration $duration -mode $runmode -pid $spid "$@" >"$dir/run.out" 2>&1 &
rpid=$!
until grep -q '^connected' "$dir/run.out" 2>/dev/null; do sleep 0.05; done
cpu() { awk '{print $14 + $15}' /proc/$spid/stat; }
c0=$(cpu)
if [ -n "${PPROF:-}" ]; then
	for k in block mutex allocs; do curl -sf -o "$PPROF.$k.base" "http://$pp/debug/pprof/$k"; done
	(sleep 3; curl -sf -o "$PPROF.cpu" "http://$pp/debug/pprof/profile?seconds=6") &
	cpid=$!
fi
perf stat -x, -e syscalls:sys_enter_fdatasync,syscalls:sys_enter_write,syscalls:sys_enter_pwrite64 -p $spid -o "$dir/perf.out" &
ppid=$!
wait $rpid || { cat "$dir/run.out" >&2; exit 1; }
c1=$(cpu)
if [ -n "${PPROF:-}" ]; then
	for k in block mutex allocs; do curl -sf -o "$PPROF.$k" "http://$pp/debug/pprof/$k"; done
	wait $cpid
fi
kill -INT $ppid; wait $ppid || true
tck=$(getconf CLK_TCK)
awk -v c0=$c0 -v c1=$c1 -v tck=$tck -v bin="$(basename $bin)" -v mode=$mode -v load="$(cut -d' ' -f1 /proc/loadavg)" '
FILENAME ~ /run.out/ && /^sent/ { d = $6; sub(",", "", d); err = $9 }
FILENAME ~ /run.out/ && /^throughput/ { tp = $2 }
FILENAME ~ /run.out/ && /^latency/ { p50 = $4; p99 = $6 }
FILENAME ~ /run.out/ && /under load/ { rss = $5 }
FILENAME ~ /perf.out/ && /fdatasync/ { split($0, f, ","); fd = f[1] }
FILENAME ~ /perf.out/ && /sys_enter_write/ { split($0, f, ","); wr = f[1] }
FILENAME ~ /perf.out/ && /pwrite64/ { split($0, f, ","); pw = f[1] }
END {
	printf "%s %s %s/s p50 %s p99 %s err %s rss %s MiB cpu %.1f us/ev fdatasync %.3f/ev write %.2f/ev pwrite %.2f/ev load %s\n",
		bin, mode, tp, p50, p99, err, rss, (c1 - c0) / tck * 1e6 / d, fd / d, wr / d, pw / d, load
}' "$dir/run.out" "$dir/perf.out"
[ -n "${VERBOSE:-}" ] && cat "$dir/run.out" "$dir/perf.out" >&2
exit 0
