"""The GPU node agent: Spot interruption drain, idle scale-to-zero, health.

Standard library only and Python 3.9 compatible (it runs on the GPU AMI's system python3).
"""
