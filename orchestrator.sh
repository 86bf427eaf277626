#!/usr/bin/env bash
# The orchestrator exercise's entry point, at the root where its audit runs it: ./orchestrator.sh create
# (start, stop, status, destroy). Everything is in scripts/orchestrator.sh (docs/lab.md).
exec "$(dirname "$0")/scripts/orchestrator.sh" "$@"
