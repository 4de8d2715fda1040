#!/usr/bin/env bash
# Usage: tools/torchrun_local.sh NUM_PROCS SCRIPT [script arguments]
# Starts SCRIPT (a tool of this folder) in NUM_PROCS processes per node with
# torchrun. Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT on every
# node. Used by dist_train.sh and dist_test.sh.
NPROCS=$1
SCRIPT=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

exec torchrun \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROCS" \
    --master_port="$PORT" \
    "$(dirname "$0")/$SCRIPT" \
    "${@:3}"
