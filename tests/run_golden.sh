#!/usr/bin/env bash
# Golden-output tests for the CLI.
#   run_golden.sh LSTMC parse DIR      every DIR/NAME.lstm: `lstmc check NAME.lstm` (run inside DIR) must exit 1
#                                       and print exactly DIR/NAME.err on stderr
#   run_golden.sh LSTMC ir SPECDIR DIR  every SPECDIR/NAME.lstm: `lstmc ir` must print exactly DIR/NAME.ir
#   run_golden.sh LSTMC check SPECDIR   every SPECDIR/*.lstm must pass `lstmc check`
# With UPDATE=1 the golden files are rewritten instead (review the diff before committing).
set -u
lstmc=$(realpath "$1"); mode=$2; shift 2
fails=0; count=0
compare() { # name expected-file actual-text
  if [ "${UPDATE:-0}" = 1 ]; then printf '%s' "$3" > "$2"; return; fi
  if [ ! -f "$2" ]; then echo "FAIL $1: golden file $2 is missing"; fails=$((fails+1)); return; fi
  if ! diff -u "$2" <(printf '%s' "$3") > /tmp/golden.diff.$$; then
    echo "FAIL $1: output differs from $2"; cat /tmp/golden.diff.$$; fails=$((fails+1))
  fi
  rm -f /tmp/golden.diff.$$
}
case "$mode" in
  parse)
    dir=$1
    for spec in "$dir"/*.lstm; do
      name=$(basename "$spec" .lstm); count=$((count+1))
      out=$(cd "$dir" && "$lstmc" check "$name.lstm" 2>&1 >/dev/null; echo "exit=$?")
      compare "$name" "$dir/$name.err" "$out"
    done ;;
  ir)
    specdir=$1; dir=$2
    for spec in "$specdir"/*.lstm; do
      name=$(basename "$spec" .lstm); count=$((count+1))
      out=$(cd "$specdir" && "$lstmc" ir "$name.lstm" 2>&1; echo "exit=$?")
      compare "$name" "$dir/$name.ir" "$out"
    done ;;
  check)
    specdir=$1
    for spec in "$specdir"/*.lstm; do
      count=$((count+1))
      if ! out=$("$lstmc" check "$spec" 2>&1); then echo "FAIL $spec does not pass check:"; echo "$out"; fails=$((fails+1)); fi
    done ;;
  *) echo "run_golden.sh: unknown mode $mode"; exit 2 ;;
esac
echo "$count cases, $fails failed"
[ "$fails" -eq 0 ]
