"""Each service kind's config spec: web, worker and jobs (their components live in
components/service/kinds/, registered in its registry.py)."""
