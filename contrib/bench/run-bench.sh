#!/usr/bin/env bash
# Benchmark saslauthd-rs against Cyrus saslauthd on the same credentials.
#
# Both daemons are started side by side in a temp dir; the password file is a pam_pwdfile file
# (user:crypt-hash) made with mkpasswd. Cyrus always runs `-a pam` on a PAM service this script
# creates (/etc/pam.d/saslauthd-bench-<pid>, removed on exit); ours runs either the same PAM
# service (--mech pam) or reads the same file directly (--mech passwd-file). Each daemon is then
# loaded in turn by `testsaslauthd --load` (a fresh connection per request, as libsasl2 does).
#
# Needs root (for /etc/pam.d), sasl2-bin, libpam-pwdfile and whois (mkpasswd).
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: run-bench.sh [options]
  --mech pam|passwd-file   mechanism for our daemon (default pam; Cyrus always uses pam)
  --duration SECS          load duration per daemon (default 10)
  --concurrency N          concurrent clients (default 16)
  --wrong-every K          every K-th request uses a wrong password (default: none)
  --hash METHOD            mkpasswd method for the password file (default sha-512)
  --stack pwdfile|permit   PAM stack: pam_pwdfile on the file (default), or pam_permit (no hashing:
                           measures the daemons themselves)
  --only cyrus|ours|both   which daemons to run (default both)
  --ours PATH              our daemon (default target/release/saslauthd, else target/debug/saslauthd)
  --client PATH            load client (default target/release/testsaslauthd, else target/debug/...)
  --cyrus PATH             Cyrus daemon (default /usr/sbin/saslauthd)
  --ours-args "ARGS"       extra arguments for our daemon
  --cyrus-args "ARGS"      extra arguments for Cyrus (e.g. "-n 16")
  --keep                   keep the temp dir (logs) after the run
Prints one table: rps, p50 and p99 latency (ms) per daemon and the ratio ours/cyrus.
USAGE
}

repo=$(cd "$(dirname "$0")/../.." && pwd)
pick() { if [[ -x $repo/target/release/$1 ]]; then echo "$repo/target/release/$1"; else echo "$repo/target/debug/$1"; fi; }

mech=pam duration=10 concurrency=16 wrong_every= hash=sha-512 only=both keep= stack=pwdfile
ours_bin=$(pick saslauthd) client=$(pick testsaslauthd) cyrus_bin=/usr/sbin/saslauthd
ours_args= cyrus_args=
while (($#)); do
    case $1 in
        --mech) mech=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        --concurrency) concurrency=$2; shift 2 ;;
        --wrong-every) wrong_every=$2; shift 2 ;;
        --hash) hash=$2; shift 2 ;;
        --stack) stack=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        --ours) ours_bin=$2; shift 2 ;;
        --client) client=$2; shift 2 ;;
        --cyrus) cyrus_bin=$2; shift 2 ;;
        --ours-args) ours_args=$2; shift 2 ;;
        --cyrus-args) cyrus_args=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run-bench.sh: unknown option $1" >&2; usage >&2; exit 1 ;;
    esac
done
case $mech in pam|passwd-file) ;; *) echo "run-bench.sh: --mech must be pam or passwd-file" >&2; exit 1 ;; esac
case $stack in pwdfile|permit) ;; *) echo "run-bench.sh: --stack must be pwdfile or permit" >&2; exit 1 ;; esac
case $only in cyrus|ours|both) ;; *) echo "run-bench.sh: --only must be cyrus, ours or both" >&2; exit 1 ;; esac
run_cyrus=; run_ours=
[[ $only != ours ]] && run_cyrus=1
[[ $only != cyrus ]] && run_ours=1
for tool in "$client" ${run_cyrus:+"$cyrus_bin"} ${run_ours:+"$ours_bin"}; do
    [[ -x $tool ]] || { echo "run-bench.sh: $tool not found (cargo build first?)" >&2; exit 1; }
done
command -v mkpasswd >/dev/null || { echo "run-bench.sh: mkpasswd missing (apt-get install whois)" >&2; exit 1; }
[[ $(id -u) == 0 ]] || { echo "run-bench.sh: must run as root (writes /etc/pam.d)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/saslauthd-bench.XXXXXX)
service=saslauthd-bench-$$
pam_file=/etc/pam.d/$service
pids=()
cleanup() {
    # SIGTERM to each daemon's own pid; Cyrus then signals its own process group (its workers).
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -f "$pam_file"
    if [[ -n $keep ]]; then echo "logs kept in $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

user=bench
password=bench-$RANDOM-$RANDOM
printf '%s:%s\n' "$user" "$(mkpasswd -m "$hash" "$password")" >"$tmp/passwd"
if [[ $stack == permit ]]; then
    printf 'auth required pam_permit.so\naccount required pam_permit.so\n' >"$pam_file"
else
    printf 'auth required pam_pwdfile.so pwdfile=%s\naccount required pam_permit.so\n' "$tmp/passwd" >"$pam_file"
fi

# start NAME CMD...: run a daemon in its own session (Cyrus in the foreground kills its whole
# process group on exit), wait for its socket.
start() {
    local name=$1; shift
    mkdir -p "$tmp/$name"
    setsid "$@" -m "$tmp/$name" -d </dev/null >"$tmp/$name.log" 2>&1 &
    pids+=("$!")
    local waited=0
    until [[ -S $tmp/$name/mux ]]; do
        if ((waited >= 100)) || ! kill -0 "${pids[-1]}" 2>/dev/null; then
            echo "run-bench.sh: $name did not create $tmp/$name/mux; log:" >&2
            cat "$tmp/$name.log" >&2
            exit 1
        fi
        sleep 0.1; waited=$((waited + 1))
    done
    if ! "$client" -u "$user" -s "$service" -f "$tmp/$name/mux" --password-stdin --timeout 30 \
        <<<"$password" >/dev/null; then
        echo "run-bench.sh: $name refused the benchmark user; log:" >&2
        cat "$tmp/$name.log" >&2
        exit 1
    fi
}

# shellcheck disable=SC2086 # the extra-argument strings are meant to split
{
    [[ -n $run_cyrus ]] && start cyrus "$cyrus_bin" -a pam $cyrus_args
    if [[ -n $run_ours ]]; then
        if [[ $mech == pam ]]; then
            start ours "$ours_bin" -a pam $ours_args
        else
            start ours "$ours_bin" -a passwd-file -O "$tmp/passwd" $ours_args
        fi
    fi
}

# load NAME: one load run; prints the client's key=value summary line.
load() {
    local args=(--load --concurrency "$concurrency" --duration "$duration"
        -u "$user" -s "$service" -f "$tmp/$1/mux" --password-stdin)
    [[ -n $wrong_every ]] && args+=(--wrong-password-every "$wrong_every")
    # Exit 255 only means some requests failed; the summary says how many.
    "$client" "${args[@]}" <<<"$password" 2>>"$tmp/$1.client.log" || true
}
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

declare -A result
for name in cyrus ours; do
    [[ $name == cyrus && -z $run_cyrus ]] && continue
    [[ $name == ours && -z $run_ours ]] && continue
    echo "loading $name for ${duration}s with $concurrency clients..." >&2
    result[$name]=$(load "$name")
    echo "$name: ${result[$name]}" >&2
done

printf '\nmech=%s stack=%s duration=%ss concurrency=%s hash=%s\n' "$mech" "$stack" "$duration" "$concurrency" "$hash"
printf '%-12s %10s %10s %10s %8s %8s %8s\n' daemon rps p50_ms p99_ms ok no fail
for name in cyrus ours; do
    line=${result[$name]:-}
    [[ -n $line ]] || continue
    printf '%-12s %10s %10s %10s %8s %8s %8s\n' "$name" "$(field "$line" rps)" "$(field "$line" p50_ms)" \
        "$(field "$line" p99_ms)" "$(field "$line" ok)" "$(field "$line" no)" "$(field "$line" fail)"
done
if [[ -n ${result[cyrus]:-} && -n ${result[ours]:-} ]]; then
    ratio() {
        awk -v a="$(field "${result[ours]}" "$1")" -v b="$(field "${result[cyrus]}" "$1")" \
            'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'
    }
    printf '%-12s %10s %10s %10s\n' ours/cyrus "$(ratio rps)" "$(ratio p50_ms)" "$(ratio p99_ms)"
fi
