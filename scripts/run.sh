#!/usr/bin/env bash
# `make run`: the carrier simulator in the background (the demo's Sim Express books through
# it), then the app in the foreground; the simulator stops when the app does.
# Usage: scripts/run.sh BIN_DIR PORT [SIM_PORT]
set -euo pipefail
BIN=${1:-.venv/bin}
PORT=${2:-5000}
SIM_PORT=${3:-${ERP_CARRIER_SIM_PORT:-5081}}

"$BIN/erp" carrier-sim --host 127.0.0.1 --port "$SIM_PORT" \
    --token "${ERP_CARRIER_SIM_TOKEN:-sim-token}" --time-scale "${ERP_CARRIER_SIM_TIME_SCALE:-3600}" &
SIM_PID=$!
trap 'kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true' EXIT INT TERM

# the periodic work (webhook deliveries, tracking polls, lost parcels) runs in the app process
ERP_TICKER=${ERP_TICKER:-1} "$BIN/erp" run --host 127.0.0.1 --port "$PORT"
