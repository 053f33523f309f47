# A Compose implementation to validate docker-compose.yml (tests/deploy/test_compose.py
# runs `config` on it; nothing is built or started: CI has no Docker engine).
# Debian bookworm packages no `docker compose` v2 plugin; its docker-compose package is
# Compose v1.29.2, which reads the Compose Specification (no `version:` key needed).
# A machine whose `docker compose` plugin works needs nothing: the test prefers it.
if ! docker compose version >/dev/null 2>&1; then
  apt_install docker-compose
fi
