#!/usr/bin/env bash
# GitLab Runner custom executor, cleanup_exec: runs after every job, also a failed or
# cancelled one; closes the job's session and removes its token files.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "${LATCHKEY_INTEGRATIONS:-$here/..}/lib/session.sh"
latchkey_close "${LATCHKEY_STATE_DIR:-$HOME/.latchkey-runner}/gitlab-${CUSTOM_ENV_CI_JOB_ID}"
