"""Service kinds: the kinds of workload a service can run.

Each kind is a package holding its component (`component.py`) and its monitors
(`monitors.py`); its config spec is settings/service/kinds/<kind>.py. Each is
registered once in `registry.py`. See docs/architecture.md, "How to add a kind"."""
