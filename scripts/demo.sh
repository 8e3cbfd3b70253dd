#!/usr/bin/env bash
# The main job, for now: set up, start pluto in the foreground with the
# example configuration, show that it is initialized and answering on its
# control socket, then stop it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"

work=$(mktemp -d /tmp/pluto-demo.XXXXXX)
trap 'ipsec stop --rundir "$work/run" 2>/dev/null || true; rm -rf "$work"' EXIT
cp examples/ipsec.secrets "$work/ipsec.secrets"; chmod 600 "$work/ipsec.secrets"

echo "== ipsec pluto --nofork --stderrlog --config examples/ipsec.conf --rundir $work/run"
coproc PLUTO { ipsec pluto --nofork --stderrlog --config examples/ipsec.conf \
    --secretsfile "$work/ipsec.secrets" --rundir "$work/run" --nhelpers 1 --debug control 2>&1; }
while IFS= read -r -t 30 line <&"${PLUTO[0]}"; do
    echo "   $line"
    [ "$line" = "Pluto initialized" ] && break
done
[ "${line:-}" = "Pluto initialized" ] || { echo "demo: pluto did not initialize" >&2; exit 1; }
echo "== lock file $work/run/pluto.pid holds $(cat "$work/run/pluto.pid")"
echo "== ipsec globalstatus --rundir $work/run"
ipsec globalstatus --rundir "$work/run"
echo "== ipsec stop --rundir $work/run"
ipsec stop --rundir "$work/run"
pid=$PLUTO_PID
while IFS= read -r -t 10 line <&"${PLUTO[0]}"; do echo "   $line"; done || true
wait "$pid"; status=$?
echo "== pluto exited with status $status; run directory now: [$(ls -A "$work/run")]"
exit "$status"
