#!/bin/bash
# Runs INSIDE the lab VM (started by scripts/lab.sh): the lab tier of pytest,
# as root, on a kernel with real ESP.  run-tests.sh OUT
# OUT/guest.env (written by the host) sets REPO, PYVER and LIBRESWAN_ROOT; OUT/pytest-args
# holds the extra pytest arguments, one per line.
set -u
OUT=${1:?usage: run-tests.sh OUT}
# shellcheck source=/dev/null
. "$OUT/guest.env"
# shellcheck source=prepare.sh
. "$REPO/tests/lab/guest/prepare.sh"
guest_prepare || exit 3
cd "$REPO" || exit 2
args=()
if [ -s "$OUT/pytest-args" ]; then
	mapfile -t args < "$OUT/pytest-args"
fi
# the whole lab unless the arguments name test files themselves
where=(tests/lab tests/kernel/test_conformance_bsdkame.py)
for a in "${args[@]}"; do
	case $a in tests/*) where=() ;; esac
done
guest_stage pytest-starting
python -m pytest -m lab "${where[@]}" -p no:cacheprovider -v --durations=0 --basetemp=/tmp/pluto-lab/pytest \
	--junitxml="$OUT/junit.xml" -o junit_family=xunit2 "${args[@]}" > "$OUT/pytest.log" 2>&1
rc=$?
echo "$rc" > "$OUT/pytest.rc"
guest_stage "pytest-done rc=$rc"
# daemon logs and configs of every test, for the report
tar -C /tmp/pluto-lab/pytest -cf "$OUT/artifacts.tar" --exclude='*.db' --exclude='pkcs11.txt' . 2> /dev/null
sync
exit "$rc"
