#!/usr/bin/env bash
# The bad-input catalogue: every case in cases.txt runs one lstmc command (inside tests/bad) on a malformed
# input and must exit with the stated status and print exactly the stated first line on stderr — no crash,
# no second line of the same error, nothing on stdout that claims success.
#   run_catalogue.sh LSTMC [cases.txt]
# cases.txt: blocks of `case NAME`, `run COMMAND` (`lstmc` stands for the binary; VAR=value prefixes allowed),
# `exit N`, `first LINE`; `#` lines are comments. With UPDATE=1 the `first` lines are rewritten from what
# lstmc prints now (review the diff).
set -u
lstmc=$(realpath "$1")
cases=$(realpath "${2:-$(dirname "$0")/cases.txt}")
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export TMPDIR_BAD="$tmp"
count=0; fails=0; out_lines=()
name= cmd= want_exit= want_first=
check_case() {
  [ -n "$name" ] || return 0
  count=$((count+1))
  local run=${cmd//lstmc /\"\$lstmc\" }
  local stderr_file="$tmp/stderr"
  (eval "$run") >"$tmp/stdout" 2>"$stderr_file" </dev/null
  local got_exit=$?
  local got_first
  got_first=$(head -n 1 "$stderr_file")
  if [ "${UPDATE:-0}" = 1 ]; then
    out_lines+=("case $name" "run $cmd" "exit $got_exit" "first $got_first" "")
    return 0
  fi
  if [ "$got_exit" != "$want_exit" ] || [ "$got_first" != "$want_first" ]; then
    fails=$((fails+1))
    echo "FAIL $name: $cmd"
    echo "  exit:  want $want_exit, got $got_exit"
    echo "  first: want: $want_first"
    echo "         got:  $got_first"
  fi
  if [ "$got_exit" -ge 128 ]; then echo "CRASH $name (signal $((got_exit-128)))"; fails=$((fails+1)); fi
}
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in
    "case "*) check_case; name=${line#case }; cmd=; want_exit=; want_first= ;;
    "run "*) cmd=${line#run } ;;
    "exit "*) want_exit=${line#exit } ;;
    "first "*) want_first=${line#first } ;;
    "first") want_first= ;;
    *) [ "${UPDATE:-0}" = 1 ] && [ -z "$name" ] && out_lines+=("$line") ;;
  esac
done < "$cases"
check_case
if [ "${UPDATE:-0}" = 1 ]; then printf '%s\n' "${out_lines[@]}" > "$cases"; echo "rewrote $cases ($count cases)"; exit 0; fi
echo "$count cases, $fails failed"
[ "$fails" -eq 0 ]
