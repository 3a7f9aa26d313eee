#!/usr/bin/env bash
# A real Slurm cluster on this host for tandem's tests: slurmctld and two slurmd "nodes" (n1, n2;
# 2 CPUs, 2 fake GPUs and 2000 MB each) from Debian's slurm-wlm, authenticated by munge, plus
# OpenMPI and MPICH for the MPI tests.
#
#   bash scripts/slurm.sh start    install what is missing, start the daemons, wait until idle
#   bash scripts/slurm.sh stop     stop every daemon this script started, by the pid it recorded
#   bash scripts/slurm.sh status   sinfo of the cluster
#   bash scripts/slurm.sh running  exit 0 when the cluster's slurmctld runs
#   bash scripts/slurm.sh stop-node N / start-node N   stop (by pid) or start node N's slurmd
#                                  (the node-failure tests)
#
# Everything lives under $TANDEM_SLURM_DIR (default /tmp/tandem-slurm): slurm.conf, state,
# logs, pid files and `env` (source it, or read SLURM_CONF from it, to talk to the cluster).
# Daemons listen on 127.0.0.1 (ports 16817, 17001-17002); the host is never renamed. Several
# slurmd on one host is Debian's multiple-slurmd build; SLURMD_NODENAME tells a step its node.
set -euo pipefail
DIR=${TANDEM_SLURM_DIR:-/tmp/tandem-slurm}
NODES=(n1 n2)
HOST=$(hostname)

log() { echo "slurm.sh: $*" >&2; }

install() {
  local need=()
  command -v slurmctld >/dev/null || need+=(slurm-wlm)
  command -v munged >/dev/null 2>&1 || [ -x /usr/sbin/munged ] || need+=(munge)
  command -v mpicc.openmpi >/dev/null || need+=(openmpi-bin libopenmpi-dev)
  command -v mpicc.mpich >/dev/null || need+=(mpich libmpich-dev)
  if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]} (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
}

write_config() {
  mkdir -p "$DIR"/{state,log,dev,spool,tmp}
  for n in "${NODES[@]}"; do mkdir -p "$DIR/spool/$n" "$DIR/tmp/$n"; done
  for g in 0 1; do [ -e "$DIR/dev/gpu$g" ] || mknod "$DIR/dev/gpu$g" c 1 3; done
  {
    echo "ClusterName=tandemci"
    echo "SlurmctldHost=$HOST(127.0.0.1)"
    echo "SlurmctldPort=16817"
    echo "SlurmdPort=16818"
    echo "SlurmUser=root"
    echo "SlurmdUser=root"
    echo "AuthType=auth/munge"
    echo "CredType=cred/munge"
    echo "AuthInfo=socket=$DIR/munge/socket"
    echo "StateSaveLocation=$DIR/state"
    echo "SlurmdSpoolDir=$DIR/spool/%n"
    echo "SlurmctldPidFile=$DIR/slurmctld.pid"
    echo "SlurmdPidFile=$DIR/slurmd.%n.pid"
    echo "SlurmctldLogFile=$DIR/log/slurmctld.log"
    echo "SlurmdLogFile=$DIR/log/slurmd.%n.log"
    echo "SchedulerType=sched/backfill"
    echo "SelectType=select/cons_tres"
    echo "SelectTypeParameters=CR_Core_Memory"
    echo "TaskPlugin=task/affinity"
    echo "ProctrackType=proctrack/linuxproc"
    echo "JobAcctGatherType=jobacct_gather/none"
    echo "AccountingStorageType=accounting_storage/none"
    echo "MpiDefault=none"
    echo "ReturnToService=2"
    echo "SlurmdTimeout=30"
    echo "KillWait=5"
    echo "TmpFS=$DIR/tmp/%n"
    echo "SlurmdParameters=config_overrides"
    echo "GresTypes=gpu"
    local port=17001
    for n in "${NODES[@]}"; do
      echo "NodeName=$n NodeHostname=$HOST NodeAddr=127.0.0.1 Port=$port CPUs=2 Sockets=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=2000 Gres=gpu:2"
      port=$((port + 1))
    done
    # several allocations may share a node (tests allocate side by side)
    echo "PartitionName=debug Nodes=$(IFS=,; echo "${NODES[*]}") Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4"
  } > "$DIR/slurm.conf"
  echo "NodeName=$(IFS=,; echo "${NODES[*]}") Name=gpu File=$DIR/dev/gpu[0-1]" > "$DIR/gres.conf"
  echo "SLURM_CONF=$DIR/slurm.conf" > "$DIR/env"
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start() {
  install
  if alive "$DIR/slurmctld.pid"; then log "already running ($DIR)"; return 0; fi
  write_config
  export SLURM_CONF="$DIR/slurm.conf"
  # munge: our own daemon on our own socket (AuthInfo in slurm.conf), so that stop ends only it
  mkdir -p "$DIR/munge"
  chown munge:munge "$DIR/munge"
  [ -f /etc/munge/munge.key ] || runuser -u munge -- /usr/sbin/mungekey --create
  if ! alive "$DIR/munge/munged.pid"; then
    runuser -u munge -- /usr/sbin/munged --socket="$DIR/munge/socket" \
      --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge/munged.log" \
      --seed-file="$DIR/munge/munged.seed"
  fi
  /usr/sbin/slurmctld -f "$SLURM_CONF" -i
  for n in "${NODES[@]}"; do /usr/sbin/slurmd -f "$SLURM_CONF" -N "$n"; done
  # wait until every node is idle (sinfo answers in a fraction of a second once they registered)
  local i
  for i in $(seq 1 300); do
    if [ "$(sinfo -h -N -o %T 2>/dev/null | sort -u)" = "idle" ]; then
      log "up: ${NODES[*]} idle ($DIR)"; return 0
    fi
    sleep 0.2
  done
  log "nodes did not become idle: $(sinfo -N 2>&1)"; tail -20 "$DIR"/log/*.log >&2 || true
  return 1
}

stop_pid() {  # stop the daemon whose pid is in $1: SIGTERM, then SIGKILL if it lingers
  local f=$1 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

start_node() {  # start node $1's slurmd again and wait until it accepts connections
  local n=$1 i port=17001
  for m in "${NODES[@]}"; do [ "$m" = "$n" ] && break; port=$((port + 1)); done
  alive "$DIR/slurmd.$n.pid" || /usr/sbin/slurmd -f "$DIR/slurm.conf" -N "$n"
  for i in $(seq 1 150); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.2
  done
  log "slurmd of $n does not listen on port $port"; return 1
}

stop() {
  for n in "${NODES[@]}"; do stop_pid "$DIR/slurmd.$n.pid"; done
  stop_pid "$DIR/slurmctld.pid"
  stop_pid "$DIR/munge/munged.pid"
  log "stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) SLURM_CONF="$DIR/slurm.conf" sinfo -N ;;
  running) alive "$DIR/slurmctld.pid" ;;
  stop-node) stop_pid "$DIR/slurmd.${2:?node}.pid" ;;
  start-node) start_node "${2:?node}" ;;
  install) install ;;
  *) echo "usage: $0 start|stop|status|running|stop-node N|start-node N|install" >&2; exit 2 ;;
esac
