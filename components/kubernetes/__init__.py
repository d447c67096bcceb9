"""Shared Kubernetes building blocks every room uses: what a cluster tells its
workloads (runtime.py) and the pod hardening written once (hardening.py)."""
