#!/usr/bin/env bash
# A one-machine Slurm cluster (slurmctld and one slurmd on this host), for trying the `slurm` launcher
# and for its test. Needs root; installs Debian's slurm-wlm where it is missing.
#
#   eval "$(tools/slurm/local_cluster.sh start DIR)"   # config, state, logs in DIR; sets SLURM_CONF and PATH
#   python main.py -m ... hydra/launcher=slurm hydra.launcher.partition=local
#   tools/slurm/local_cluster.sh stop DIR
#
# One node (`localhost`: this machine's CPUs, half its memory), one partition `local`; no cgroups, no
# accounting database: `sacct` (which submitit polls) is this folder's stand-in, put first on PATH.
# Authentication is `auth/none`: any local user may act as any other, so use it on a machine you trust.
set -euo pipefail
tools=$(cd "$(dirname "$0")" && pwd)

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
action=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

install_slurm() {
    command -v slurmctld >/dev/null && return
    [[ $(id -u) -eq 0 ]] || { echo "error: slurm-wlm is not installed and installing it needs root" >&2; exit 1; }
    echo "installing slurm-wlm (apt-get) ..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends slurm-wlm >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends slurm-wlm >/dev/null; }
}

write_conf() {
    mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/bin"
    ln -sf "$tools/sacct" "$dir/bin/sacct"
    cat > "$dir/slurm.conf" <<CONF
ClusterName=bench-local
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/pgid
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
KillWait=2
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$(getconf _NPROCESSORS_ONLN) RealMemory=$(( $(free -m | awk '/^Mem:/ {print $2}') / 2 )) State=UNKNOWN
PartitionName=local Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
}

start() {
    install_slurm
    write_conf
    export SLURM_CONF=$dir/slurm.conf
    slurmctld -c -f "$SLURM_CONF"
    slurmd -N localhost -f "$SLURM_CONF"
    for _ in $(seq 60); do
        if sinfo -h -N -o %T 2>/dev/null | grep -qx idle; then
            echo "export SLURM_CONF=$SLURM_CONF PATH=$dir/bin:\$PATH"
            return
        fi
        sleep 0.5
    done
    echo "error: the Slurm node did not come up within 30 s; logs in $dir/log" >&2
    stop
    exit 1
}

stop() {
    # jobs first: a job step outlives its slurmd
    if [[ -f $dir/slurmctld.pid ]] && SLURM_CONF=$dir/slurm.conf scancel --user "$(id -un)" 2>/dev/null; then
        for _ in $(seq 40); do
            [[ -z $(SLURM_CONF=$dir/slurm.conf squeue -h 2>/dev/null) ]] && break
            sleep 0.5
        done
    fi
    for daemon in slurmd slurmctld; do
        pid_file=$dir/$daemon.pid
        if [[ -f $pid_file ]]; then
            kill "$(cat "$pid_file")" 2>/dev/null || true
            rm -f "$pid_file"
        fi
    done
}

case $action in
    start) start ;;
    stop) stop ;;
    *) usage ;;
esac
