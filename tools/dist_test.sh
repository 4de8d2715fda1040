#!/usr/bin/env bash
# Usage: tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [test.py options]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT on every node.
exec bash "$(dirname "$0")/torchrun_local.sh" "$3" test.py "$1" "$2" \
    --launcher pytorch "${@:4}"
