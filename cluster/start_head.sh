#!/usr/bin/env bash
# Start the Ray head of an Agent Forge cluster on this machine.
#
#   HEAD_IP=10.0.0.10 ./cluster/start_head.sh          # then: ./cluster/join_worker.sh on workers
#
# Env: HEAD_IP (this machine's address on the private network; required), RAY_PORT (6379),
# NUM_GPUS (default: Ray detects), AUTH (token|disabled, default token).
# With AUTH=token a token is created in ~/.ray/auth_token if there is none; copy that file to
# every worker and to the machine that runs `agent-forge run` (or export RAY_AUTH_TOKEN there).
# Stop an older Ray on this machine first (`ray stop`); this script does not, to spare others.
set -euo pipefail

: "${HEAD_IP:?set HEAD_IP to the private-network address of this machine}"
RAY_PORT="${RAY_PORT:-6379}"
AUTH="${AUTH:-token}"

export RAY_USAGE_STATS_ENABLED=0
export RAY_AUTH_MODE="$AUTH"
if [[ "$AUTH" == "token" ]]; then
  ray get-auth-token --generate >/dev/null
  chmod 600 "$HOME/.ray/auth_token"
  echo "auth token: ~/.ray/auth_token (copy it to each worker and to the driver machine)"
fi

args=(--head --node-ip-address="$HEAD_IP" --port="$RAY_PORT"
      --dashboard-host=127.0.0.1   # reach it through `ssh -L 8265:127.0.0.1:8265 head`
      --disable-usage-stats)
[[ -n "${NUM_GPUS:-}" ]] && args+=(--num-gpus="$NUM_GPUS")

ray start "${args[@]}"
echo
echo "head is up. On each worker:  HEAD_IP=$HEAD_IP ./cluster/join_worker.sh"
echo "run the pipeline:            RAY_AUTH_MODE=$AUTH agent-forge run --address $HEAD_IP:$RAY_PORT"
