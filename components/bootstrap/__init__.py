"""The bootstrap room: the state backend, the secrets provider, the GitHub identities and their
role assignments, the platform's resource groups and the self-hosted runners (bootstrap/)."""
