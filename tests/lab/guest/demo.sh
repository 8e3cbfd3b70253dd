#!/bin/bash
# Runs INSIDE the lab VM (bash scripts/lab.sh --demo): the README's main job on
# a kernel with ESP. Two of our daemons in two network namespaces bring up an
# IKEv2 tunnel, a ping crosses it, `ipsec trafficstatus` shows the bytes.
set -u
OUT=${1:?usage: demo.sh OUT}
# shellcheck source=/dev/null
. "$OUT/guest.env"
# shellcheck source=prepare.sh
. "$REPO/tests/lab/guest/prepare.sh"
echo "== preparing the VM (kernel $(uname -r): esp4, xfrm_user, Python from a disk image)"
guest_prepare || exit 3
cd "$REPO" || exit 2
W=demo-west E=demo-east D=/tmp/pluto-lab/demo
step() { echo; echo "== $*"; }
show() { echo "\$ $*"; "$@" 2>&1 | sed 's/^/   /'; return "${PIPESTATUS[0]}"; }
fail() { echo "demo: $*" >&2; for s in west east; do echo "--- $s log"; tail -20 "$D/$s/pluto.log"; done; exit 1; }

step "two hosts: west 192.0.2.1 (inside 198.51.100.0/24) and east 192.0.2.2 (inside 203.0.113.0/24)"
ip netns add $W; ip netns add $E
ip link add ext0 netns $W type veth peer name ext0 netns $E
for spec in "$W 192.0.2.1 198.51.100.1 203.0.113.0/24 192.0.2.2" "$E 192.0.2.2 203.0.113.1 198.51.100.0/24 192.0.2.1"; do
	set -- $spec
	ip -n "$1" link set lo up; ip -n "$1" addr add "$2/24" dev ext0; ip -n "$1" link set ext0 up
	ip -n "$1" link add in0 type dummy; ip -n "$1" addr add "$3/24" dev in0; ip -n "$1" link set in0 up
	ip -n "$1" route add "$4" via "$5" src "$3"
done
show ip -n $W -brief addr

step "the configuration both daemons read (examples/ipsec.conf) and the PSK"
show cat examples/ipsec.conf
mkdir -p "$D/west" "$D/east"
cp examples/ipsec.secrets "$D/ipsec.secrets"; chmod 600 "$D/ipsec.secrets"

step "start pluto in each namespace: ip netns exec NS ipsec pluto --nofork ..."
for side in west east; do
	ns=$W; [ $side = east ] && ns=$E
	ip netns exec $ns ipsec pluto --nofork --config examples/ipsec.conf --secretsfile "$D/ipsec.secrets" \
		--rundir "$D/$side/run" --logfile "$D/$side/pluto.log" --nhelpers 0 > "$D/$side/stdout" 2>&1 &
done
for side in west east; do
	for ((i = 0; i < 600; i++)); do
		grep -q "Pluto initialized" "$D/$side/stdout" 2> /dev/null && break
		read -r -t 0.5 -u 9 || :
	done
	grep -q "Pluto initialized" "$D/$side/stdout" || fail "$side did not start: $(cat "$D/$side/stdout")"
	echo "   $side: Pluto initialized"
done

step "bring the tunnel up from west"
show ipsec up west-east --rundir "$D/west/run" || fail "ipsec up failed"

step "the kernel's SAs in west"
show ip -n $W xfrm state

step "ping from west's inside address to east's, through the tunnel"
show ip netns exec $W busybox ping -c 3 -I 198.51.100.1 203.0.113.1 || fail "no answer through the tunnel"

step "ESP counters in both kernels"
for ns in $W $E; do
	echo "   $ns:"; ip -n $ns -s xfrm state | awk '/^src/{sa=$0} /^[ \t]*[0-9]+\(bytes\)/{print "     " sa ": " $1 " " $2}'
done

step "ipsec trafficstatus (each side)"
show ipsec trafficstatus --rundir "$D/west/run"
show ipsec trafficstatus --rundir "$D/east/run"

step "ipsec down, then stop both daemons"
show ipsec down west-east --rundir "$D/west/run"
for side in west east; do ipsec stop --rundir "$D/$side/run"; done
wait
echo "   SAs left in west: $(ip -n $W xfrm state | grep -c '^src')"
echo
echo "== demo done: the tunnel carried the ping"
