#!/usr/bin/env bash
# GitLab Runner custom executor, prepare_exec: opens a session for the job. The job's
# variables arrive prefixed CUSTOM_ENV_ (CUSTOM_ENV_CI_JOB_ID, CUSTOM_ENV_CI_PROJECT_NAME,
# …); a failure exits SYSTEM_FAILURE_EXIT_CODE so the job is failed as a system failure.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "${LATCHKEY_INTEGRATIONS:-$here/..}/lib/session.sh"
state="${LATCHKEY_STATE_DIR:-$HOME/.latchkey-runner}/gitlab-${CUSTOM_ENV_CI_JOB_ID}"
project="${LATCHKEY_PROJECT:-${CUSTOM_ENV_CI_PROJECT_NAME}}"
build="gitlab:${CUSTOM_ENV_CI_PROJECT_PATH}#${CUSTOM_ENV_CI_PIPELINE_ID}/${CUSTOM_ENV_CI_JOB_ID}"
latchkey_open "$state" "$project" "$build" || exit "${SYSTEM_FAILURE_EXIT_CODE:-1}"
