# Shared by the runner recipes: open a Latchkey session for one job, hand its token to
# the job as a file, close the session when the job ends. Source it from bash.
#
# A job's state lives in a directory of its own (mode 0700): `id` (the session id) and
# `token` (mode 0600, the runner's copy). The job gets its own copy of the token as a
# file (`latchkey exec --session-file FILE` reads it, and removes it once read); the
# token is never exported in an environment variable and never printed.
#
# Settings (environment of the runner; all optional):
#   LATCHKEY_PROJECT   the Latchkey project (default: given by each recipe, e.g. the repository name)
#   LATCHKEY_GRANTS    comma-separated grants (default: deploy-key)
#   LATCHKEY_TTL       session lifetime, e.g. 1h (default: 1h; the policy caps it)
#   LATCHKEY_USES      how many redeems (default: the policy's choice)
#   LATCHKEY_SOCKET    the daemon's socket (default: latchkey's own default)
#   LATCHKEY_BIN       the latchkey binary (default: latchkey on PATH)

latchkey_bin() { "${LATCHKEY_BIN:-latchkey}" "$@"; }

# latchkey_open STATE_DIR PROJECT BUILD_ID — opens the session, writes STATE_DIR/{id,token}.
latchkey_open() {
  local state="$1" project="$2" build="$3"
  local args=(session open "$project" --build "$build" --ttl "${LATCHKEY_TTL:-1h}")
  local grant
  for grant in $(printf '%s' "${LATCHKEY_GRANTS:-deploy-key}" | tr ',' ' '); do args+=(--grant "$grant"); done
  if [ -n "${LATCHKEY_USES:-}" ]; then args+=(--uses "$LATCHKEY_USES"); fi
  if [ -e "$state/id" ]; then
    echo "latchkey: a session is already open in $state; closing it first" >&2
    latchkey_close "$state"
  fi
  (umask 077 && mkdir -p "$state") || return 1
  chmod 0700 "$state"
  local opened
  opened="$(latchkey_bin "${args[@]}")" || return 1
  # The answer's two lines: "session ID for …" and "LATCHKEY_SESSION=TOKEN".
  (umask 077 && printf '%s\n' "$opened" | sed -n 's/^LATCHKEY_SESSION=//p' > "$state/token")
  printf '%s\n' "$opened" | sed -n 's/^session \([^ ]*\) .*/\1/p' > "$state/id"
  opened=""
  if [ ! -s "$state/token" ] || [ ! -s "$state/id" ]; then
    echo "latchkey: unexpected answer from 'latchkey session open'" >&2
    return 1
  fi
  echo "latchkey: opened session $(cat "$state/id") for $project ($build)" >&2
}

# latchkey_handoff STATE_DIR DIR — a fresh copy of the token (mode 0600) in DIR for the
# job; prints its path. `latchkey exec --session-file` removes it once read.
latchkey_handoff() {
  local state="$1" dir="$2" file
  (umask 077 && mkdir -p "$dir") || return 1
  file="$(umask 077 && mktemp "$dir/session.XXXXXX")" || return 1
  cat "$state/token" > "$file"
  printf '%s\n' "$file"
}

# latchkey_close STATE_DIR — closes the session (if it is still live) and removes the state.
latchkey_close() {
  local state="$1"
  if [ -s "$state/id" ]; then
    if latchkey_bin session close "$(cat "$state/id")" >&2; then
      :
    else
      echo "latchkey: could not close session $(cat "$state/id") (already ended, or the daemon is unreachable); its TTL still ends it" >&2
    fi
  fi
  rm -rf "$state"
}
