#!/usr/bin/env bash
# GitHub Actions self-hosted runner: ACTIONS_RUNNER_HOOK_JOB_STARTED. The runner runs it
# with `bash -e` before each job, with the job's default variables (GITHUB_REPOSITORY,
# GITHUB_RUN_ID, GITHUB_RUN_ATTEMPT, GITHUB_JOB, GITHUB_ENV, RUNNER_NAME, …). It opens a
# session for the job's project and hands the job a token file: the path (not the token)
# goes into GITHUB_ENV as LATCHKEY_SESSION_FILE. A non-zero exit fails the job before
# it starts.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "${LATCHKEY_INTEGRATIONS:-$here/..}/lib/session.sh"
state="${LATCHKEY_STATE_DIR:-$HOME/.latchkey-runner}/github-${RUNNER_NAME:-runner}"
project="${LATCHKEY_PROJECT:-${GITHUB_REPOSITORY##*/}}"
build="github:${GITHUB_REPOSITORY}#${GITHUB_RUN_ID}.${GITHUB_RUN_ATTEMPT:-1}/${GITHUB_JOB}"
latchkey_open "$state" "$project" "$build"
file="$(latchkey_handoff "$state" "$state/handoff")"
echo "LATCHKEY_SESSION_FILE=$file" >> "$GITHUB_ENV"
