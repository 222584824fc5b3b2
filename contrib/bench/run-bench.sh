#!/usr/bin/env bash
# Benchmark saslauthd-rs against the floor (nullmux) and Cyrus saslauthd, in one run, with one
# load client (muxbench: one connection per request, as libsasl2 does), and print the ratios.
#
# Targets, each started in a session of its own in a temp dir and loaded in turn:
#   ours     our saslauthd: -a pam on the bench PAM service, or -a passwd-file on the same file;
#            in the foreground with -f, at the production log level (-d would log every request)
#   nullmux  the floor: a C server that answers OK to every well-formed request, checking nothing
#   cyrus    Cyrus saslauthd, always -a pam on the bench PAM service (default -n 5)
#   ceiling  pamceiling with PIN=1: whole PAM transactions in-process, modules kept loaded (what
#            libpam itself can do on this machine; --stack permit only, it logs in alice/secret)
# The C programs (nullmux.c, muxbench.c, pamceiling.c: copies of ../shared/bench, kept here so a
# clean clone can run this) are compiled with gcc into the temp dir at run time.
#
# The bench PAM service is /etc/pam.d/saslauthd-bench-<pid> (Cyrus reads only /etc/pam.d); with
# --stack unix the bench user is a private system account with a crypt hash (yescrypt by
# default). Both are removed on exit, and every process the script started is stopped, whatever
# it does with SIGTERM: each target's whole process group gets SIGTERM, then SIGKILL after a
# grace period (Cyrus in -d can ignore SIGTERM once its workers are gone).
#
# Needs root (for /etc/pam.d and useradd), gcc, sasl2-bin (Cyrus), libpam-pwdfile (--stack
# pwdfile), whois (mkpasswd), libpam0g-dev (ceiling), and our release build.
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: run-bench.sh [options]
  --mech pam|passwd-file   mechanism for our daemon (default pam; Cyrus always uses pam)
  --stack permit|pwdfile|unix
                           PAM stack: pam_permit (no hashing: measures the daemons themselves),
                           pam_pwdfile on the bench password file (default), or pam_unix on a
                           private account made for the run
  --hash METHOD            mkpasswd method for the password (default sha-512; yescrypt with unix)
  --cache                  -c (credential cache) for ours and Cyrus: repeated logins are cache hits
  --duration SECS          load duration per target (default 10)
  --concurrency N          concurrent clients (default 16)
  --targets LIST           comma-separated, from ours,nullmux,cyrus,ceiling
                           (default ours,nullmux,cyrus, plus ceiling with --stack permit)
  --ours PATH              our daemon (default target/release/saslauthd)
  --cyrus PATH             Cyrus daemon (default /usr/sbin/saslauthd)
  --ours-args "ARGS"       extra arguments for our daemon
  --cyrus-args "ARGS"      arguments for Cyrus (default "-n 5")
  --nullmux-threads N      nullmux's accept threads (default 4)
  --ceiling-threads N      pamceiling's threads (default: --concurrency, so it gets the CPU share
                           the daemons get on a shared machine)
  --c-src DIR              where nullmux.c, muxbench.c, pamceiling.c are (default: this script's dir)
  --keep                   keep the temp dir (logs) after the run
Prints one table (requests/s, p50 and p99 latency in µs, replies) and the ratios of ours to the
others. Quote ratios from one run, not absolute figures: the machine is shared and noisy.
USAGE
}

die() { echo "run-bench.sh: $*" >&2; exit 1; }

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

mech=pam stack=pwdfile hash= cache= duration=10 concurrency=16 targets= keep=
ours_bin=$repo/target/release/saslauthd cyrus_bin=/usr/sbin/saslauthd
ours_args= cyrus_args="-n 5" nullmux_threads=4 ceiling_threads= c_src=$here
while (($#)); do
    case $1 in
        --mech) mech=$2; shift 2 ;;
        --stack) stack=$2; shift 2 ;;
        --hash) hash=$2; shift 2 ;;
        --cache) cache=1; shift ;;
        --duration) duration=$2; shift 2 ;;
        --concurrency) concurrency=$2; shift 2 ;;
        --targets) targets=$2; shift 2 ;;
        --ours) ours_bin=$2; shift 2 ;;
        --cyrus) cyrus_bin=$2; shift 2 ;;
        --ours-args) ours_args=$2; shift 2 ;;
        --cyrus-args) cyrus_args=$2; shift 2 ;;
        --nullmux-threads) nullmux_threads=$2; shift 2 ;;
        --ceiling-threads) ceiling_threads=$2; shift 2 ;;
        --c-src) c_src=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run-bench.sh: unknown option $1" >&2; usage >&2; exit 1 ;;
    esac
done
case $mech in pam|passwd-file) ;; *) die "--mech must be pam or passwd-file" ;; esac
case $stack in permit|pwdfile|unix) ;; *) die "--stack must be permit, pwdfile or unix" ;; esac
[[ $duration =~ ^[0-9]+$ && $duration -gt 0 ]] || die "--duration must be a whole number of seconds > 0"
[[ $concurrency =~ ^[0-9]+$ && $concurrency -gt 0 ]] || die "--concurrency must be a number > 0"
if [[ -z $hash ]]; then
    if [[ $stack == unix ]]; then hash=yescrypt; else hash=sha-512; fi
fi
[[ -n $ceiling_threads ]] || ceiling_threads=$concurrency
if [[ -z $targets ]]; then
    targets=ours,nullmux,cyrus
    [[ $stack == permit ]] && targets+=,ceiling
fi
declare -A want=()
IFS=, read -ra list <<<"$targets"
for t in "${list[@]}"; do
    case $t in ours|nullmux|cyrus|ceiling) want[$t]=1 ;; *) die "--targets: unknown target '$t'" ;; esac
done
[[ -n ${want[ceiling]:-} && $stack != permit ]] &&
    die "the ceiling target needs --stack permit (pamceiling logs in alice/secret, which only pam_permit accepts)"
[[ $mech == passwd-file && $stack == unix ]] && die "--mech passwd-file reads the password file: use --stack pwdfile or permit"

# Every dependency is checked before anything is started, and named with its package.
[[ $(id -u) == 0 ]] || die "must run as root (writes /etc/pam.d, creates the bench account)"
command -v gcc >/dev/null || die "gcc missing (apt-get install gcc)"
command -v mkpasswd >/dev/null || die "mkpasswd missing (apt-get install whois)"
for f in muxbench.c ${want[nullmux]:+nullmux.c} ${want[ceiling]:+pamceiling.c}; do
    [[ -f $c_src/$f ]] || die "$c_src/$f missing (see --c-src)"
done
[[ -z ${want[ours]:-} || -x $ours_bin ]] ||
    die "$ours_bin not found (cargo build --release --bins, or --ours PATH)"
[[ -z ${want[cyrus]:-} || -x $cyrus_bin ]] || die "$cyrus_bin not found (apt-get install sasl2-bin)"
[[ -z ${want[ceiling]:-} || -f /usr/include/security/pam_appl.h ]] ||
    die "<security/pam_appl.h> missing for pamceiling (apt-get install libpam0g-dev, or leave out ceiling)"
if [[ $stack == pwdfile ]] && ! compgen -G '/usr/lib/x86_64-linux-gnu/security/pam_pwdfile.so' >/dev/null &&
    ! compgen -G '/lib/*/security/pam_pwdfile.so' >/dev/null; then
    die "pam_pwdfile.so missing (apt-get install libpam-pwdfile)"
fi
if [[ $stack == unix ]]; then
    command -v useradd >/dev/null && command -v userdel >/dev/null || die "useradd/userdel missing (apt-get install passwd)"
fi

tmp=$(mktemp -d /tmp/saslauthd-bench.XXXXXX)
service=saslauthd-bench-$$
pam_file=/etc/pam.d/$service
made_user=
pgids=()
# The grace period between SIGTERM and SIGKILL, in tenths of a second.
grace_tenths=30

# alive PGID: the group's processes that are not zombies (a zombie has exited and only waits to
# be reaped), one "pid command" a line; fails if there are none.
alive() {
    ps -e -o pid=,pgid=,stat=,args= |
        awk -v g="$1" '$2 == g && $3 !~ /^Z/ { print; found = 1 } END { exit !found }'
}

# stop_group PGID: SIGTERM to the whole group, SIGKILL to whatever is left after the grace period.
stop_group() {
    local pgid=$1 waited=0
    kill -TERM -- "-$pgid" 2>/dev/null || return 0
    while alive "$pgid" >/dev/null && ((waited < grace_tenths)); do
        sleep 0.1; waited=$((waited + 1))
    done
    if alive "$pgid" >/dev/null; then
        echo "run-bench.sh: process group $pgid ignored SIGTERM for $((grace_tenths / 10))s: SIGKILL" >&2
        kill -KILL -- "-$pgid" 2>/dev/null || true
        waited=0
        while alive "$pgid" >/dev/null && ((waited < 20)); do sleep 0.1; waited=$((waited + 1)); done
    fi
    # Reap the group leader, our child (bash may report it "Killed").
    wait "$pgid" 2>/dev/null || true
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    for pgid in "${pgids[@]}"; do stop_group "$pgid"; done
    for pgid in "${pgids[@]}"; do
        if alive "$pgid" >/dev/null; then
            echo "run-bench.sh: processes of group $pgid still running after SIGKILL:" >&2
            alive "$pgid" >&2 || true
            status=1
        fi
    done
    rm -f "$pam_file"
    [[ -n $made_user ]] && userdel "$made_user" 2>/dev/null
    if [[ -n $keep ]]; then echo "logs kept in $tmp" >&2; else rm -rf "$tmp"; fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Build the C programs.
cc_flags=(-O2 -pthread)
gcc "${cc_flags[@]}" -o "$tmp/muxbench" "$c_src/muxbench.c"
[[ -n ${want[nullmux]:-} ]] && gcc "${cc_flags[@]}" -o "$tmp/nullmux" "$c_src/nullmux.c"
[[ -n ${want[ceiling]:-} ]] && gcc "${cc_flags[@]}" -o "$tmp/pamceiling" "$c_src/pamceiling.c" -lpam

# The credentials and the PAM service.
password=bench-$RANDOM-$RANDOM
crypt=$(mkpasswd -m "$hash" "$password")
if [[ $stack == unix ]]; then
    user=sbench$$
    useradd -M -N -d /nonexistent -s /usr/sbin/nologin -p "$crypt" "$user"
    made_user=$user
else
    user=bench
fi
printf '%s:%s\n' "$user" "$crypt" >"$tmp/passwd"
case $stack in
    permit) printf 'auth required pam_permit.so\naccount required pam_permit.so\n' ;;
    pwdfile) printf 'auth required pam_pwdfile.so pwdfile=%s\naccount required pam_permit.so\n' "$tmp/passwd" ;;
    unix) printf 'auth required pam_unix.so\naccount required pam_unix.so\n' ;;
esac >"$pam_file"

# spawn NAME CMD...: run CMD in a session of its own (so its pid is its process group, and Cyrus
# in the foreground, which signals its own group on exit, reaches nothing of ours).
spawn() {
    local name=$1; shift
    setsid "$@" </dev/null >"$tmp/$name.log" 2>&1 &
    pgids+=("$!")
}

# wait_socket NAME SOCK: until SOCK exists, or fail with the target's log.
wait_socket() {
    local waited=0
    until [[ -S $2 ]]; do
        if ((waited >= 100)) || ! kill -0 "${pgids[-1]}" 2>/dev/null; then
            echo "run-bench.sh: $1 did not create $2; log:" >&2
            cat "$tmp/$1.log" >&2
            exit 1
        fi
        sleep 0.1; waited=$((waited + 1))
    done
}

# muxbench SOCK THREADS SECONDS: the client's summary line.
muxbench() { "$tmp/muxbench" "$1" "$user" "$password" "$service" "" "$2" "$3"; }
field() { tr ' ' '\n' <<<"$1" | sed -n "/^$2\$/{n;p;q}"; }

declare -A sock=()
# shellcheck disable=SC2086 # the extra-argument strings are meant to split
{
    if [[ -n ${want[ours]:-} ]]; then
        mkdir -p "$tmp/ours"; sock[ours]=$tmp/ours/mux
        if [[ $mech == pam ]]; then
            spawn ours "$ours_bin" -a pam ${cache:+-c} -m "$tmp/ours" -f $ours_args
        else
            spawn ours "$ours_bin" -a passwd-file -O "$tmp/passwd" ${cache:+-c} -m "$tmp/ours" -f $ours_args
        fi
        wait_socket ours "${sock[ours]}"
    fi
    if [[ -n ${want[nullmux]:-} ]]; then
        sock[nullmux]=$tmp/nullmux.sock
        spawn nullmux "$tmp/nullmux" "${sock[nullmux]}" "$nullmux_threads"
        wait_socket nullmux "${sock[nullmux]}"
    fi
    if [[ -n ${want[cyrus]:-} ]]; then
        mkdir -p "$tmp/cyrus"; sock[cyrus]=$tmp/cyrus/mux
        spawn cyrus "$cyrus_bin" -a pam ${cache:+-c} -m "$tmp/cyrus" -d $cyrus_args
        wait_socket cyrus "${sock[cyrus]}"
    fi
}

# Each server must accept the bench user before it is measured (this also fills the caches).
for name in ours nullmux cyrus; do
    [[ -n ${sock[$name]:-} ]] || continue
    check=$(muxbench "${sock[$name]}" 1 1)
    if [[ $(field "$check" ok) == 0 || $(field "$check" no) != 0 || $(field "$check" err) != 0 ]]; then
        echo "run-bench.sh: $name did not accept the bench user ($check); log:" >&2
        cat "$tmp/$name.log" >&2
        exit 1
    fi
done

declare -A result=()
for name in ours nullmux cyrus; do
    [[ -n ${sock[$name]:-} ]] || continue
    echo "loading $name for ${duration}s with $concurrency clients..." >&2
    result[$name]=$(muxbench "${sock[$name]}" "$concurrency" "$duration")
    echo "$name: ${result[$name]}" >&2
done
ceiling_rps=
if [[ -n ${want[ceiling]:-} ]]; then
    echo "running pamceiling (PIN=1) for ${duration}s with $ceiling_threads threads..." >&2
    line=$(PIN=1 "$tmp/pamceiling" "$service" "$ceiling_threads" "$duration")
    echo "ceiling: $line" >&2
    ceiling_rps=$(sed -n 's/.*: \([0-9.]*\) transactions\/s.*/\1/p' <<<"$line")
fi

printf '\nmech=%s stack=%s hash=%s cache=%s duration=%ss concurrency=%s cyrus-args="%s" ours-args="%s" service=%s\n' \
    "$mech" "$stack" "$hash" "${cache:-no}" "$duration" "$concurrency" "$cyrus_args" "$ours_args" "$service"
printf '%-10s %10s %10s %10s %9s %7s %7s\n' target rps p50_us p99_us ok no err
for name in ours nullmux cyrus; do
    line=${result[$name]:-}
    [[ -n $line ]] || continue
    printf '%-10s %10s %10s %10s %9s %7s %7s\n' "$name" "$(field "$line" rps)" "$(field "$line" p50_us)" \
        "$(field "$line" p99_us)" "$(field "$line" ok)" "$(field "$line" no)" "$(field "$line" err)"
done
[[ -n $ceiling_rps ]] && printf '%-10s %10s   (in-process, %s threads, modules pinned)\n' ceiling "$ceiling_rps" "$ceiling_threads"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'; }
rps() { field "${result[$1]:-}" rps; }
echo
[[ -n ${result[ours]:-} && -n ${result[nullmux]:-} ]] && echo "ours/nullmux   $(ratio "$(rps ours)" "$(rps nullmux)")"
[[ -n ${result[cyrus]:-} && -n ${result[nullmux]:-} ]] && echo "cyrus/nullmux  $(ratio "$(rps cyrus)" "$(rps nullmux)")"
[[ -n ${result[ours]:-} && -n ${result[cyrus]:-} ]] && echo "ours/cyrus     $(ratio "$(rps ours)" "$(rps cyrus)")"
[[ -n ${result[ours]:-} && -n $ceiling_rps ]] && echo "ours/ceiling   $(ratio "$(rps ours)" "$ceiling_rps")"
exit 0
