#!/usr/bin/env bash
# Golden CLI tests of the pass pipeline: every DIR/NAME.cmd holds the arguments of one `lstmc` command line
# (run in DIR with $T a temp folder holding tied.st and untied.st, weights made by `lstmc init`, and
# $LSTMC the lstmc binary); its stdout and stderr together, the temp folder written as TMP, and the exit
# status must be exactly DIR/NAME.out.
#   run_golden.sh LSTMC DIR TMPDIR       (UPDATE=1 rewrites the .out files: review the diff)
set -u
LSTMC=$(realpath "$1"); dir=$(realpath "$2"); T=$(realpath "$3")/golden
export LSTMC T
mkdir -p "$T"
"$LSTMC" init "$dir/tied.lstm" --seed 3 -o "$T/tied.st" 2>/dev/null || { echo "init failed"; exit 1; }
"$LSTMC" init "$dir/untied.lstm" --seed 4 -o "$T/untied.st" 2>/dev/null || { echo "init failed"; exit 1; }
fails=0; count=0
for cmd in "$dir"/*.cmd; do
  name=$(basename "$cmd" .cmd); count=$((count+1))
  out=$(cd "$dir" && eval "\"\$LSTMC\" $(cat "$cmd")" 2>&1; echo "exit=$?")
  out=${out//$T/TMP}
  if [ "${UPDATE:-0}" = 1 ]; then printf '%s\n' "$out" > "$dir/$name.out"; continue; fi
  if ! diff -u "$dir/$name.out" <(printf '%s\n' "$out"); then echo "FAIL $name"; fails=$((fails+1)); fi
done
echo "$count cases, $fails failed"
[ "$fails" -eq 0 ]
