#!/bin/bash
# UnaMentis GPU node, stage 0: run once by cloud-init (runcmd). The AMI has no AWS CLI, so the
# agent's own AWS client (a boot kit in the user data: gpu_nodes/agent/{http,imds,aws,aws_cli}.py)
# fetches the agent archive, which is checked against the hash in the user data and holds the rest
# of the bootstrap (gpu_nodes/gpu-node-bootstrap.sh).
set -euo pipefail
umask 022
# ROOT, IMDS_URL and AWS_ENDPOINT_URL exist so the script can run in a scratch directory against
# loopback servers; cloud-init sets none of them.
ROOT=${UNAMENTIS_ROOT:-}
export GPU_AGENT_IMDS_URL=${UNAMENTIS_IMDS_URL:-http://169.254.169.254}
export GPU_AGENT_AWS_ENDPOINT_URL=${UNAMENTIS_AWS_ENDPOINT_URL:-}
mkdir -p "$ROOT/var/log"
exec > >(tee -a "$ROOT/var/log/unamentis-gpu-bootstrap.log") 2>&1
. "$ROOT/etc/unamentis/gpu-node.env"
OPT=$ROOT/opt/unamentis
log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) gpu-bootstrap: $*"; }
command -v python3 >/dev/null || { log "FATAL: no python3 on this AMI"; shutdown -h now; exit 1; }
rm -rf "$OPT/boot" && mkdir -p "$OPT/boot" "$OPT/agent"
python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$OPT/boot-kit.tar.bz2" "$OPT/boot"
aws_call() { PYTHONPATH="$OPT/boot" python3 -m gpu_nodes.agent.aws_cli --region "$REGION" "$@"; }

imds_get() {
  local token
  token=$(curl -sf -X PUT "$GPU_AGENT_IMDS_URL/latest/api/token" -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')
  curl -sf -H "X-aws-ec2-metadata-token: $token" "$GPU_AGENT_IMDS_URL/latest/meta-data/$1"
}

give_up() {
  # Without its agent a node would bill by the hour and never scale to zero: remove it and lower
  # desired capacity, so the ASG does not start another one in a loop. The launch template's
  # shutdown behaviour is `terminate`, so the fallback ends the instance too.
  log "FATAL: $*; removing this node from ${ASG_NAME}"
  aws_call asg-terminate "$(imds_get instance-id)" || shutdown -h now
  exit 1
}

n=0
until aws_call s3-get "$MODEL_BUCKET" "$AGENT_KEY" "$OPT/agent.tar"; do
  n=$((n + 1))
  [ "$n" -lt 5 ] || give_up "cannot fetch the agent s3://${MODEL_BUCKET}/${AGENT_KEY}"
  sleep $((n * 3))
done
echo "${AGENT_SHA256}  $OPT/agent.tar" | sha256sum -c --status - || give_up "agent archive checksum mismatch"
tar -xf "$OPT/agent.tar" -C "$OPT/agent"
exec bash "$OPT/agent/gpu_nodes/gpu-node-bootstrap.sh"
