#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine for `make test-slurm` (Debian packages, root,
# no systemd): munged, MariaDB (unix socket only) + slurmdbd for accounting (the SLURM
# executor plugin asks `sacct` for job states), slurmctld, slurmd. One node "localhost"
# with one declared GPU (GRES backed by /dev/null: a job sees CUDA_VISIBLE_DEVICES but no
# device, so training falls back to CPU), one partition "debug". Loopback and sockets only.
# Idempotent: returns at once when the cluster already answers; stop with stop-slurm.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
CLUSTER=lossbench
PARTITION=debug
DB_PASSWORD=lossbench-local   # MariaDB listens on a unix socket only
say() { printf '[start-slurm %(%T)T] %s\n' -1 "$*"; }
t0=$(date +%s)

# 1. The config comes first: without /etc/slurm/slurm.conf every slurm command looks the
#    controller up through DNS SRV records, i.e. off this machine.
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/slurm
cpus=$(nproc)
mem_mb=$(awk '/MemTotal/ {print int($2 / 1024) - 2048}' /proc/meminfo)
cat > /etc/slurm/slurm.conf <<EOF
# written by $0
ClusterName=$CLUSTER
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
MailProg=/bin/true
ReturnToService=2
SlurmdParameters=config_overrides
MpiDefault=none
# no cgroups in this container: limits on memory and CPUs are not enforced (time limits are)
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageTRES=gres/gpu
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# a job without --mem would otherwise take the whole node
DefMemPerCPU=1000
MinJobAge=300
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb Gres=gpu:1 State=UNKNOWN
PartitionName=$PARTITION Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
# a GPU without File= is dropped and the node drains
echo "NodeName=localhost Name=gpu File=/dev/null" > /etc/slurm/gres.conf
cat > /etc/slurm/slurmdbd.conf <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=root
LogFile=/var/log/slurm/slurmdbd.log
PidFile=/run/slurm/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASSWORD
StorageLoc=slurm_acct_db
EOF
chmod 600 /etc/slurm/slurmdbd.conf

if command -v sinfo >/dev/null && [ "$(timeout 5 sinfo -h -n localhost -o %T 2>/dev/null)" = idle ] \
   && timeout 5 sacct -n -X -S now-1minute >/dev/null 2>&1; then
    say "cluster already up"
    exit 0
fi

# 2. Packages (about 10 s from the apt cache).
packages=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
t_installed=$(date +%s)
"$here/stop-slurm.sh" --quiet

# 3. munge
[ -s /etc/munge/munge.key ] || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
mkdir -p /run/munge && chown munge:munge /run/munge
runuser -u munge -- /usr/sbin/munged
wait_for() {  # seconds command...: poll until the command succeeds
    local limit=$1; shift
    for _ in $(seq 1 $((limit * 4))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
    "$@"
}
wait_for 10 bash -c "munge -n | unmunge"

# 4. MariaDB (socket only) and slurmdbd
mkdir -p /run/mysqld && chown mysql:root /run/mysqld
[ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
setsid /usr/sbin/mariadbd --user=mysql --skip-networking --innodb-buffer-pool-size=256M \
    </dev/null >>/var/log/slurm/mariadb.log 2>&1 &
wait_for 30 mariadb-admin ping
mariadb <<EOF
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
EOF
slurmdbd
wait_for 30 sacctmgr -n list cluster
sacctmgr -i add cluster "$CLUSTER" >/dev/null 2>&1 || true

# 5. controller and node
slurmctld
sleep 0.5
if ! kill -0 "$(cat /run/slurm/slurmctld.pid 2>/dev/null)" 2>/dev/null; then
    # state saved under another cluster id (accounting DB recreated): start clean
    say "slurmctld did not stay up; clearing its saved cluster name and retrying"
    rm -f /var/spool/slurmctld/clustername
    slurmctld
fi
slurmd -N localhost
node_idle() {
    local state
    state=$(sinfo -h -n localhost -o %T 2>/dev/null)
    case "$state" in
        idle) return 0 ;;
        *drain*|down*) scontrol update NodeName=localhost State=RESUME >/dev/null 2>&1 ;;
    esac
    return 1
}
if ! wait_for 30 node_idle; then
    echo "SLURM node did not become idle:" >&2
    scontrol show node localhost >&2 || true
    tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
    exit 1
fi
wait_for 10 sacct -n -X -S now-1minute
t_end=$(date +%s)
say "cluster up: $(sinfo -h -o '%P %T %N %G') (install/check $((t_installed - t0)) s, start $((t_end - t_installed)) s)"
