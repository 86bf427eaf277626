# shellcheck shell=bash
# A start written as named steps, each with its undo (the model: kind's create Actions, which delete
# what was half built when one fails). A step NAME is two functions: NAME_up, which may fail anywhere
# (mp_die included), and NAME_down, which undoes whatever part of NAME_up ran and is safe to run twice.
# The steps run recorded in a file, so that a later process (`scripts/cluster down`) undoes exactly the
# steps that ran, newest first. Source it after common.sh.

# MP_STEPS_FAIL_AFTER=STEP makes mp_steps_up fail right after STEP_up succeeded, as if the next step had
# failed: how a test shows that a failed start leaves the host as it was.

# mp_steps_up RECORD STEP...: runs each STEP_up in order. A step is written to RECORD before it starts;
# when one fails, every recorded step's STEP_down runs, the failed one first, RECORD is emptied, and
# mp_steps_up returns 1. Each STEP_up runs in a subshell with errexit: the variables it sets do not
# outlive it (steps share what they need through files and the caller's variables).
mp_steps_up() {
  local record=$1 step rc
  shift
  for step in "$@"; do
    echo "$step" >>"$record"
    mp_log "step $step"
    set +e
    (
      set -e
      "${step}_up"
      [[ ${MP_STEPS_FAIL_AFTER:-} != "$step" ]] || mp_die "failing after step $step (MP_STEPS_FAIL_AFTER)"
    )
    rc=$?
    set -e
    if ((rc != 0)); then
      mp_log "step $step failed ($rc): undoing the steps that ran, newest first"
      mp_steps_down "$record"
      return 1
    fi
  done
}

# mp_steps_down RECORD: runs STEP_down for each step of RECORD, newest first, then removes RECORD. A
# failing undo is reported and the others still run.
mp_steps_down() {
  local record=$1 steps=() i
  [[ -f $record ]] || return 0
  mapfile -t steps <"$record"
  for ((i = ${#steps[@]} - 1; i >= 0; i--)); do
    [[ -n ${steps[i]} ]] || continue
    "${steps[i]}_down" || mp_log "undo of step ${steps[i]} failed (rc $?); going on"
  done
  rm -f "$record"
}
