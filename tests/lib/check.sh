# shellcheck shell=bash
# The tally every shell test keeps: each check prints one line ("ok     WHAT" or "FAILED WHAT") and is
# counted; `finish` ends the test with "N passed, N failed" and its exit status. Source it after
# scripts/lib/common.sh.
#
# The errexit rule, for every shell file of the tree. A program (scripts/*, bench/*, the images'
# entrypoints, a wrapper such as tests/acceptance/newman; scripts/fuzz too, though it counts with this
# tally) runs with `set -euo pipefail`: a command that fails ends it, since what follows would build on
# it (scripts/test's run_step keeps it on inside each step's functions). A test that checks runs
# with `set -uo pipefail`, without -e: a check that fails is counted and the test goes on, so that one
# run reports every failure, and so do the commands between the checks (a curl whose reply the next
# check reads, a stop, a sleep): their failure shows in the check that reads their result. What a test
# cannot go on without (its stack, its cluster) it tests itself and ends with `give_up`.
#
# scripts/test reads the result from the exit status and the file MP_TEST_TALLY ("PASSED FAILED"),
# which `finish` writes when it is set; a test that ends without writing it counts as one failure.

passed=0
failed=0
# Kept here and not passed on: a test this test runs (tests/cluster/real-node runs tests/acceptance/flow)
# must not write it.
tally_file=${MP_TEST_TALLY:-}
unset MP_TEST_TALLY

pass() { # WHAT: counts one check passed
  passed=$((passed + 1))
  echo "ok     $1"
}

fail() { # WHAT: counts one check failed
  failed=$((failed + 1))
  echo "FAILED $1"
}

check() { # WHAT COMMAND...: runs COMMAND; it passes when COMMAND exits 0
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

rejected() { # NAME EXPECTED-TEXT COMMAND...: passes when COMMAND fails with EXPECTED-TEXT in its output
  local name=$1 expect=$2 out rc=0
  shift 2
  out=$("$@" 2>&1) || rc=$?
  if ((rc != 0)) && grep -qF -- "$expect" <<<"$out"; then
    pass "$name: rejected ($expect)"
  else
    printf '%s\n' "$out" >&2
    fail "$name (exit $rc, expected a failure with: $expect)"
  fi
}

fails() { ! "$@" >/dev/null 2>&1; } # COMMAND...: true when COMMAND fails (its output dropped)

finish() { # the closing line, the tally file, and exit status 1 when anything failed
  echo "$passed passed, $failed failed"
  [[ -z $tally_file ]] || echo "$passed $failed" >"$tally_file"
  ((failed == 0))
}

give_up() { # WHAT: counts WHAT as a failed check and ends the test: nothing after it can pass
  fail "$1"
  finish
  exit 1
}
