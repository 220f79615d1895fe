#!/usr/bin/env bash
# Run every test of a build tree with CTest (`make test` calls this), then
# list the tests that did not run and the reason each printed ("SKIP: ..."),
# and the lines where a test that ran says it skipped a part.
# With CI set in the environment, a skipped test fails the run: on the CI
# machine scripts/install-deps.sh has installed everything, so a skip there
# means a test silently stopped testing.
#
# usage: run-tests.sh BUILD_DIR [CTEST_ARGS...]
# The last line is "N passed, N failed, N skipped". Exit status: ctest's if
# it failed; else 1 if CI is set and a test skipped; else 0.
set -uo pipefail
build=${1:?usage: run-tests.sh BUILD_DIR [CTEST_ARGS...]}
shift
cd "$build" || exit 1
mkdir -p Testing/Temporary
console=Testing/Temporary/run-tests-console.log
ctest --output-on-failure --timeout 600 "$@" 2>&1 | tee "$console"
rc=${PIPESTATUS[0]}

# One line per test in ctest's console output:
#   " 9/35 Test  #9: integration.memif_dpdk ..........***Skipped   0.01 sec"
# Passed, ***Skipped, ***Not Run..., or a failure (***Failed, ***Timeout,
# ***Exception: ...).
declare -a skipped=()
passed=0 failed=0
while IFS=$'\t' read -r name status; do
	case $status in
	Passed) passed=$((passed + 1)) ;;
	Skipped | Not\ Run*) skipped+=("$name") ;;
	*) failed=$((failed + 1)) ;;
	esac
done < <(sed -nE 's/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: ([^ ]+) \.*(\*\*\*)? *(.*[^ ]) +[0-9.]+ sec$/\1\t\3/p' "$console")

# The reason: the last line of the test's output that says SKIP, else its
# last line, from CTest's log of every test's output.
reason() {
	awk -v t="\"$1\" start time:" '
		$0 == "----------------------------------------------------------" && state == 1 { state = 2; next }
		index($0, t) == 1 { state = 1; next }
		state == 2 && $0 == "<end of output>" { exit }
		state == 2 && /SKIP/ { skip = $0 }
		state == 2 && NF { last = $0 }
		END { if (skip != "") print skip; else if (last != "") print last; else print "(no output)" }
	' Testing/Temporary/LastTest.log 2>/dev/null
}

echo
if [[ ${#skipped[@]} -eq 0 ]]; then
	echo "skipped tests: none"
else
	echo "skipped tests:"
	for t in "${skipped[@]}"; do
		printf '  %s: %s\n' "$t" "$(reason "$t")"
	done
fi
# Tests that ran but said they skipped a part ("SKIP (part): ...", a VM
# guest's "VMTEST SKIP ..."): shown, not counted.
partial=$(awk -v skipped=" ${skipped[*]} " '
	/^"[^"]+" start time:/ { name = $1; gsub(/"/, "", name); state = 1; next }
	state == 1 && $0 == "----------------------------------------------------------" { state = 2; next }
	state == 2 && $0 == "<end of output>" { state = 0; next }
	state == 2 && /SKIP/ && index(skipped, " " name " ") == 0 && n[name]++ < 5 { print "  " name ": " $0 }
' Testing/Temporary/LastTest.log 2>/dev/null)
if [[ -n $partial ]]; then
	echo "parts skipped inside tests that ran:"
	echo "$partial"
fi
if [[ -n ${CI:-} && ${#skipped[@]} -gt 0 && $rc -eq 0 ]]; then
	echo "CI is set: no test may skip on the CI machine (scripts/install-deps.sh installs what they need)"
	rc=1
fi
echo "$passed passed, $failed failed, ${#skipped[@]} skipped"
exit "$rc"
