#!/usr/bin/env bash
# Usage: tools/dist_train.sh CONFIG NUM_PROCS [train.py options]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT on every node.
exec bash "$(dirname "$0")/torchrun_local.sh" "$2" train.py "$1" \
    --launcher pytorch "${@:3}"
