#!/usr/bin/env bash
# GitLab Runner custom executor, run_exec: called as `run.sh SCRIPT STAGE` for each stage
# of the job. The stages that run the job's own commands (step_script, build_script;
# override with LATCHKEY_STAGES, space-separated) run under `latchkey exec` with a fresh
# token file; every other stage runs as it is. A failing script exits
# BUILD_FAILURE_EXIT_CODE, as the custom executor expects.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "${LATCHKEY_INTEGRATIONS:-$here/..}/lib/session.sh"
script="$1"
stage="$2"
state="${LATCHKEY_STATE_DIR:-$HOME/.latchkey-runner}/gitlab-${CUSTOM_ENV_CI_JOB_ID}"
case " ${LATCHKEY_STAGES:-step_script build_script} " in
  *" $stage "*)
    file="$(latchkey_handoff "$state" "$state/handoff")" || exit "${SYSTEM_FAILURE_EXIT_CODE:-1}"
    latchkey_bin exec --session-file "$file" -- bash "$script"
    status=$?
    rm -f "$file"
    ;;
  *)
    bash "$script"
    status=$?
    ;;
esac
[ "$status" -eq 0 ] || exit "${BUILD_FAILURE_EXIT_CODE:-1}"
