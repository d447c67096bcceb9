"""The offline engine (the real program under Pulumi mocks) and the tools on
top of it: render, diff and bench. No cloud, no cluster, no Pulumi CLI."""
