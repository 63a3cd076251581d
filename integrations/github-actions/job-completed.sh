#!/usr/bin/env bash
# GitHub Actions self-hosted runner: ACTIONS_RUNNER_HOOK_JOB_COMPLETED. Runs after each
# job, whatever its result: closes the job's session and removes its token files.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "${LATCHKEY_INTEGRATIONS:-$here/..}/lib/session.sh"
latchkey_close "${LATCHKEY_STATE_DIR:-$HOME/.latchkey-runner}/github-${RUNNER_NAME:-runner}"
