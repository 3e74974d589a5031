#!/usr/bin/env bash
# Join this machine to an Agent Forge Ray cluster as a worker.
#
#   HEAD_IP=10.0.0.10 ./cluster/join_worker.sh
#
# Env: HEAD_IP (required), RAY_PORT (6379), WORKER_IP (this machine's private address; default:
# Ray picks), NUM_GPUS (default: Ray detects), AUTH (token|disabled, default token; with token,
# ~/.ray/auth_token must hold the head's token, or export RAY_AUTH_TOKEN).
# The worker needs the same Python, torch, ray and agent-forge versions as the head.
# Stop an older Ray on this machine first (`ray stop`); this script does not, to spare others.
set -euo pipefail

: "${HEAD_IP:?set HEAD_IP to the private-network address of the head}"
RAY_PORT="${RAY_PORT:-6379}"
AUTH="${AUTH:-token}"

export RAY_USAGE_STATS_ENABLED=0
export RAY_AUTH_MODE="$AUTH"
if [[ "$AUTH" == "token" && -z "${RAY_AUTH_TOKEN:-}" && ! -s "$HOME/.ray/auth_token" ]]; then
  echo "no auth token: copy the head's ~/.ray/auth_token here or export RAY_AUTH_TOKEN" >&2
  exit 2
fi

args=(--address="$HEAD_IP:$RAY_PORT" --disable-usage-stats)
[[ -n "${WORKER_IP:-}" ]] && args+=(--node-ip-address="$WORKER_IP")
[[ -n "${NUM_GPUS:-}" ]] && args+=(--num-gpus="$NUM_GPUS")

ray start "${args[@]}"
