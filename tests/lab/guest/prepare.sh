# Sourced INSIDE the lab VM by run-tests.sh and demo.sh (bash).
#   REPO   the checkout (the host's, seen read-only over 9p)
#   OUT    this run's results directory (shared read-write with the host)
#   PYVER  the venv's Python version (3.11)
#
# Under TCG the 9p root costs about 0.1-0.3 s per Python module imported
# (every stat/open is a round trip to qemu): the daemon imports in ~65 s from
# 9p. scripts/lab.sh therefore puts the interpreter's library, the venv's
# site-packages and our sources (with compiled .pyc) on an ext4 image
# attached as a disk (label plutolab); here it is mounted and its folders are
# bind-mounted over the same paths, so every path (and the editable install)
# stays what it is on the host.

guest_now() { cut -d' ' -f1 /proc/uptime; }
guest_stage() {   # a line the host prints as it appears
	echo "$(guest_now) $*" >> "$OUT/stages.log"
}

guest_prepare() {
	exec 9<> <(:)   # a fork-free sleep: read -t on a pipe nobody writes
	echo "guest-ready $(guest_now)" > "$OUT/guest-ready"
	guest_stage guest-started
	local m
	for m in esp4 esp6 xfrm_user xfrm_ipcomp xfrm_interface ip_vti ip6_vti af_key veth dummy; do
		modprobe "$m" 2> /dev/null || guest_stage "modprobe $m failed"
	done
	guest_stage modules-loaded
	local root=/run/labfs dev="" i d
	for ((i = 0; i < 120; i++)); do
		dev=$(blkid -L plutolab 2> /dev/null) && break
		read -r -t 0.25 -u 9 || :
	done
	[ -n "$dev" ] || { guest_stage "no disk labelled plutolab"; return 1; }
	mkdir -p "$root"
	mount -o ro "$dev" "$root" || { guest_stage "mount $dev failed"; return 1; }
	mount --bind "$root/stdlib" "/usr/lib/python$PYVER"
	mount --bind "$root/site" "$REPO/.venv/lib/python$PYVER/site-packages"
	for d in "$root"/repo/*; do
		mount --bind "$d" "$REPO/$(basename "$d")"
	done
	guest_stage python-from-disk
	export PATH=$REPO/.venv/bin:$PATH
	export PLUTO_LAB=1 PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 PYTHONUNBUFFERED=1
	export LIBRESWAN_ROOT=${LIBRESWAN_ROOT:-/opt/libreswan}
	unset PYTHONDONTWRITEBYTECODE
	# scratch space on a tmpfs of its own: not under /run, which each charon
	# hides behind its private bind mount (lab pitfall 5)
	mkdir -p /tmp/pluto-lab
	mount -t tmpfs -o size=512M pluto-lab /tmp/pluto-lab
	export TMPDIR=/tmp/pluto-lab
}
