#!/bin/bash
# UnaMentis GPU node bootstrap, run by stage 0 (gpu-node-stage0.sh, from the user data) once it has
# fetched, checked and extracted the agent archive this script comes in. Settings come from
# /etc/unamentis/gpu-node.env, written by the user data (gpu_nodes/bootstrap.py).
# Order: agent first (so a Spot notice is handled at any point), then model cache, servers, models.
# Every AWS call goes through the agent's own client (python3 -m gpu_nodes.agent.aws_cli): the
# ECS GPU-optimised AMI has no AWS CLI.
set -euo pipefail
umask 022
# ROOT, IMDS_URL and AWS_ENDPOINT_URL exist so the script can run in a scratch directory against
# loopback servers; cloud-init sets none of them. Stage 0 already sends the output to the log.
ROOT=${UNAMENTIS_ROOT:-}
IMDS=${UNAMENTIS_IMDS_URL:-http://169.254.169.254}/latest
export GPU_AGENT_IMDS_URL=${UNAMENTIS_IMDS_URL:-http://169.254.169.254}
export GPU_AGENT_AWS_ENDPOINT_URL=${UNAMENTIS_AWS_ENDPOINT_URL:-}

. "$ROOT/etc/unamentis/gpu-node.env"
DATA=$ROOT/var/lib/unamentis
OPT=$ROOT/opt/unamentis
aws_call() { PYTHONPATH="$OPT/agent" python3 -m gpu_nodes.agent.aws_cli --region "$REGION" "$@"; }

log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) gpu-bootstrap: $*"; }

imds_get() {
  local token
  token=$(curl -sf -X PUT "$IMDS/api/token" -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')
  curl -sf -H "X-aws-ec2-metadata-token: $token" "$IMDS/meta-data/$1"
}

give_up() {
  # Without its agent (or its models) a node would bill by the hour and never scale to zero:
  # remove it and lower desired capacity, so the ASG does not start another one in a loop.
  log "FATAL: $*; removing this node from ${ASG_NAME}"
  aws_call asg-terminate "$(imds_get instance-id)" || shutdown -h now
  exit 1
}

retry() {
  local n=0
  until "$@"; do
    n=$((n + 1))
    if [ "$n" -ge 5 ]; then return 1; fi
    sleep $((n * 3))
  done
}

wait_http() {
  local i
  for i in $(seq 1 150); do
    if curl -sf -o /dev/null "$1"; then return 0; fi
    sleep 2
  done
  return 1
}

# 1. The agent (stage 0 fetched and checked it into $OPT/agent).
mkdir -p "$DATA/ollama" "$DATA/hf"
# Secrets for the agent come from SSM at boot, never from the user data.
secret_env="$ROOT/etc/unamentis/gpu-agent-secret.env"
(umask 077 && : >"$secret_env")
for pair in "GPU_AGENT_CORE_TOKEN ${CORE_TOKEN_PARAMETER}" "GPU_AGENT_CORE_ACCESS_CLIENT_SECRET ${CORE_ACCESS_SECRET_PARAMETER}"; do
  var=${pair%% *}
  name=${pair#* }
  if [ -z "$name" ]; then continue; fi
  value=$(retry aws_call ssm-get "$name") || give_up "cannot read ${name}"
  printf '%s=%s\n' "$var" "$value" >>"$secret_env"
done
systemctl daemon-reload
systemctl enable --now unamentis-gpu-agent.service
log "agent started"

# 2. The model cache from the stack bucket (an empty or missing prefix is fine: registries next).
aws_call s3-sync-down "$MODEL_BUCKET" "$CACHE_PREFIX/ollama" "$DATA/ollama" || log "no Ollama cache in $CACHE_PREFIX/ollama"
aws_call s3-sync-down "$MODEL_BUCKET" "$CACHE_PREFIX/hf" "$DATA/hf" || log "no speech model cache in $CACHE_PREFIX/hf"
chown -R 1000:1000 "$DATA/hf" # the speaches image runs as uid 1000

# 3. The model servers, with the GPU, restarted by Docker if they die.
for image in "$OLLAMA_IMAGE" "$TTS_IMAGE" "$STT_IMAGE"; do
  retry docker pull --quiet "$image" || give_up "cannot pull $image"
done
run() {
  local name=$1
  shift
  docker rm -f "$name" >/dev/null 2>&1 || true
  docker run -d --name "$name" --restart unless-stopped --gpus all "$@" >/dev/null
}
# The agent decides when models leave the GPU (COOL/COLD); Ollama's own 5-minute expiry would not.
run ollama -p "${OLLAMA_PORT}:11434" -v "$DATA/ollama:/root/.ollama" -e OLLAMA_KEEP_ALIVE=24h "$OLLAMA_IMAGE"
run tts -p "${TTS_PORT}:8000" -v "$DATA/hf:/home/ubuntu/.cache/huggingface/hub" "$TTS_IMAGE"
run stt -p "${STT_PORT}:8000" -v "$DATA/hf:/home/ubuntu/.cache/huggingface/hub" "$STT_IMAGE"

# 4. Models: what the cache did not hold comes from the public registries.
wait_http "http://127.0.0.1:${OLLAMA_PORT}/api/version" || give_up "Ollama did not start"
ollama_pulled=0
for model in $OLLAMA_MODELS; do
  if ! docker exec ollama ollama show "$model" >/dev/null 2>&1; then
    log "pulling $model from the Ollama registry"
    retry docker exec ollama ollama pull "$model" >/dev/null || give_up "cannot pull $model"
    ollama_pulled=1
  fi
done
hf_files_before=$(find "$DATA/hf" -type f | wc -l)
for pair in "${TTS_PORT} ${TTS_MODEL}" "${STT_PORT} ${STT_MODEL}"; do
  port=${pair%% *}
  model=${pair#* }
  wait_http "http://127.0.0.1:${port}/health" || give_up "the speech server on ${port} did not start"
  # Downloads only when the model is not in the (restored) cache. Newer speaches releases take
  # POST /v1/models/{id}; older ones POST /api/pull/{id}.
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:${port}/v1/models/${model}")
  case "$code" in
    404 | 405) code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:${port}/api/pull/${model}") ;;
  esac
  case "$code" in
    2??) ;;
    *) give_up "cannot download ${model} (HTTP ${code})" ;;
  esac
done
hf_pulled=0
if [ "$(find "$DATA/hf" -type f | wc -l)" != "$hf_files_before" ]; then hf_pulled=1; fi

# 5. Write what came from the registries back to the bucket, so the next node starts from it.
if [ "$CACHE_WRITE_BACK" = 1 ]; then
  if [ "$ollama_pulled" = 1 ]; then
    aws_call s3-sync-up "$DATA/ollama" "$MODEL_BUCKET" "$CACHE_PREFIX/ollama" || log "Ollama cache write-back failed"
  fi
  if [ "$hf_pulled" = 1 ]; then
    aws_call s3-sync-up "$DATA/hf" "$MODEL_BUCKET" "$CACHE_PREFIX/hf" || log "speech cache write-back failed"
  fi
fi
log "ready: ollama :${OLLAMA_PORT}, tts :${TTS_PORT}, stt :${STT_PORT}, agent :11400"
