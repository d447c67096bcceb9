"""The bootstrap room of the config: what the one-off bootstrap program (bootstrap/) makes
before any platform stack can run: the state backend, the secrets provider, the pipeline's
identities and their roles, and the self-hosted runners."""
