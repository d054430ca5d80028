"""GPU node software: the cloud-init bootstrap (`gpu_nodes.bootstrap`) and the node agent
(`python -m gpu_nodes.agent`).

The agent uses the Python standard library only: it runs on the GPU AMI's own python3 (3.9 on
Amazon Linux 2023) with no pip step at boot, so a node is serving as soon as its containers are.
"""
