"""The dev machine's environment: the local cluster, the `make dev` runner,
and where the built toolchain lives."""
