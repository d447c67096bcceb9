"""Service kinds: the kinds of workload a service can run.

Each kind is a package holding its config spec (`spec.py`), its component
(`component.py`) and its monitors (`monitors.py`), and is registered once in
`registry.py`. See "How to add a service kind" in the README."""
