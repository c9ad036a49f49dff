#!/usr/bin/env bash
# Stop the test cluster of start-slurm.sh: cancel jobs, then each daemon through its own
# pid file (never by process name, so nothing else on the machine is touched).
set -u
quiet=0; [ "${1:-}" = --quiet ] && quiet=1
say() { [ $quiet = 1 ] || printf '[stop-slurm] %s\n' "$*"; }

if [ -s /run/slurm/slurmctld.pid ] && kill -0 "$(cat /run/slurm/slurmctld.pid)" 2>/dev/null; then
    jobs=$(timeout 10 squeue -h -o %A 2>/dev/null | tr '\n' ' ')
    if [ -n "${jobs// /}" ]; then
        say "cancelling jobs $jobs"
        # shellcheck disable=SC2086
        timeout 10 scancel $jobs 2>/dev/null
        sleep 1
    fi
fi

stop() {  # name pidfile
    local pid
    [ -s "$2" ] || return 0
    pid=$(tr -dc 0-9 < "$2")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        say "stopping $1 ($pid)"
        kill -TERM "$pid"
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$2"
}
stop slurmd /run/slurm/slurmd.pid
stop slurmctld /run/slurm/slurmctld.pid
stop slurmdbd /run/slurm/slurmdbd.pid
stop mariadb /run/mysqld/mysqld.pid
stop munged /run/munge/munged.pid
exit 0
