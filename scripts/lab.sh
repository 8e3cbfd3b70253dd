#!/usr/bin/env bash
# The kernel lab: real IPsec tunnels in a VM (qemu software emulation, no KVM)
# whose Debian kernel has ESP, for the tests a host kernel without ESP skips.
#
#   bash scripts/lab.sh [PYTEST ARGS]   set up, boot the VM, run `pytest -m lab tests/lab`
#                                       inside it as root; exit with pytest's status
#   bash scripts/lab.sh --demo          two of our daemons, a tunnel, a ping, trafficstatus
#   bash scripts/lab.sh --setup-only    install what the lab needs, then stop
#
# Results: build/lab/runs/<run>/ (build/lab/latest points at the last run):
# pytest.log, junit.xml, stages.log, console.log, artifacts.tar (daemon logs
# and configs of every test), timings.txt.  docs/lab.md tells the rest.
#
# Environment: LAB_TIMEOUT (seconds for the whole VM run, default 2700),
# LAB_MEM (2G), LAB_CPUS (2), LAB_KERNEL (default: newest /boot/vmlinuz-*-amd64),
# LIBRESWAN_ROOT (/opt/libreswan), LAB_NO_SETUP=1 (skip the install step).
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
LAB=$REPO/build/lab
LIBRESWAN_ROOT=${LIBRESWAN_ROOT:-/opt/libreswan}
MODE=tests
case "${1:-}" in
--demo) MODE=demo; shift ;;
--setup-only) MODE=setup; shift ;;
esac

# One lab at a time on this machine: two TCG guests on two cores would both miss
# their time budget. A second run waits for the first.
# The lock is the machine's, not the checkout's: a clone or a worktree elsewhere
# waits too. (The script takes it itself: do not wrap it in flock on the same file.)
mkdir -p "$LAB"
# --setup-only boots no guest: it does not wait.
LOCK=${LAB_LOCK:-/tmp/pluto-lab.lock}
if [ "$MODE" != setup ]; then
	exec 8> "$LOCK"
	if ! flock -n 8; then
		echo "lab: another lab run holds $LOCK; waiting for it" >&2
		flock 8
	fi
fi

ts() { date +%s.%N; }
dt() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }
T0=$(ts)

# --- setup (idempotent: a second run only checks) ---------------------------
# Debian 12 packages: qemu, a generic Debian kernel with modules (booted only
# inside qemu), busybox (the lab's ping), strongSwan with the curve25519
# plugin, and Libreswan's run-time dependencies. Libreswan itself cannot be
# installed next to strongSwan (it Conflicts with strongswan-libcharon and
# both ship /usr/sbin/ipsec), so its .deb is unpacked into $LIBRESWAN_ROOT.
lab_setup() {
	bash scripts/setup.sh || return 1
	local need=() p
	for p in qemu-system-x86 busybox-static linux-image-amd64 iproute2 \
		strongswan-charon strongswan-swanctl libstrongswan-standard-plugins \
		libstrongswan-extra-plugins libcharon-extra-plugins \
		dns-root-data bind9-host iptables nftables libnss3-tools libaudit1 libcap-ng0 \
		libcrypt1 libcurl3-nss libevent-core-2.1-7 libevent-pthreads-2.1-7 \
		libldap-2.5-0 libldns3 libnspr4 libnss3 libpam0g libselinux1 libsystemd0 \
		libunbound8; do
		dpkg -s "$p" > /dev/null 2>&1 || need+=("$p")
	done
	if [ ${#need[@]} -gt 0 ]; then
		[ "$(id -u)" -eq 0 ] || { echo "lab: need root to install: ${need[*]}" >&2; return 1; }
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${need[@]}" > /dev/null || return 1
	fi
	# strongswan-starter is never started here (no init system); on a machine
	# with systemd it would be: systemctl disable --now strongswan-starter
	if [ ! -x "$LIBRESWAN_ROOT/usr/libexec/ipsec/pluto" ]; then
		local tmp
		tmp=$(mktemp -d)
		(cd "$tmp" && apt-get download -q libreswan) || { rm -rf "$tmp"; return 1; }
		mkdir -p "$LIBRESWAN_ROOT"
		dpkg-deb -x "$tmp"/libreswan_*.deb "$LIBRESWAN_ROOT" || { rm -rf "$tmp"; return 1; }
		rm -rf "$tmp"
	fi
	# virtme-ng (vng) in a venv of its own: a tool of the lab, not of pluto
	if [ ! -x "$LAB/tools/bin/vng" ]; then
		mkdir -p "$LAB"
		/usr/bin/python3 -m venv "$LAB/tools" && "$LAB/tools/bin/pip" install -q 'virtme-ng==1.42' || return 1
	fi
}

if [ "${LAB_NO_SETUP:-0}" != 1 ]; then
	lab_setup > "${TMPDIR:-/tmp}/pluto-lab-setup.log" 2>&1 || {
		echo "lab: setup failed:" >&2; tail -20 "${TMPDIR:-/tmp}/pluto-lab-setup.log" >&2; exit 2; }
fi
T_SETUP=$(ts)
[ "$MODE" = setup ] && { echo "lab: setup done ($(dt "$T0" "$T_SETUP") s)"; exit 0; }

# vng starts its helpers (virtme-run, virtme-init's tools) by name through PATH, so
# the lab's own venv goes first on it: nothing from /usr/local or an older global
# install may stand in for what lab_setup installed.
VNG=$LAB/tools/bin/vng
[ -x "$VNG" ] || { echo "lab: $VNG missing (run without LAB_NO_SETUP=1)" >&2; exit 2; }
export PATH="$LAB/tools/bin:$PATH"
KERNEL=${LAB_KERNEL:-$(ls /boot/vmlinuz-*-amd64 2> /dev/null | grep -v -- -cloud- | sort -V | tail -1)}
[ -f "$KERNEL" ] || { echo "lab: no Debian kernel in /boot (install linux-image-amd64)" >&2; exit 2; }

# --- the run directory -------------------------------------------------------
RUN_ID=$(date +%Y%m%d-%H%M%S)-$MODE
OUT=$LAB/runs/$RUN_ID
mkdir -p "$OUT"
ln -sfn "runs/$RUN_ID" "$LAB/latest"
printf '%s\n' "$@" > "$OUT/pytest-args"
[ $# -eq 0 ] && : > "$OUT/pytest-args"

# --- Python for the guest, on a disk image -----------------------------------
# The guest reads the host's files over 9p, where each open/stat is a round
# trip to qemu: importing the daemon from there takes ~65 s under emulation,
# and copying the files over 9p is barely faster. So the interpreter's library,
# the venv's site-packages and our sources (with .pyc compiled here, in
# seconds) go into an ext4 image attached as a disk; the guest mounts it and
# binds its folders over the same paths (tests/lab/guest/prepare.sh), so
# every path, the editable install included, stays what it is on the host.
PY=$REPO/.venv/bin/python
PYVER=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
PYENV=$OUT/pyenv
mkdir -p "$PYENV/tree/stdlib" "$PYENV/tree/site" "$PYENV/tree/repo"
tar -C "/usr/lib/python$PYVER" -cf - \
	--exclude=./test --exclude=./idlelib --exclude=./tkinter --exclude=./turtledemo \
	--exclude=./lib2to3 --exclude=./ensurepip --exclude=./pydoc_data --exclude='./config-*' . |
	tar -C "$PYENV/tree/stdlib" -xf -
tar -C "$REPO/.venv/lib/python$PYVER/site-packages" -cf - \
	--exclude=./mypy --exclude=./mypyc --exclude='./*__mypyc*' --exclude=./librt --exclude=./ast_serialize \
	--exclude=./pip --exclude=./ruff --exclude=./hypothesis . | tar -C "$PYENV/tree/site" -xf -
tar -C "$REPO" -cf - --exclude=__pycache__ --exclude=build --exclude='*.egg-info' \
	pluto_core backends plugins tests | tar -C "$PYENV/tree/repo" -xf -
"$PY" -m compileall -q -j 2 -s "$PYENV/tree/repo" -p "$REPO" "$PYENV/tree/repo" > /dev/null
mke2fs -F -q -t ext4 -O ^has_journal -L plutolab -d "$PYENV/tree" "$PYENV/python.img" 400M > /dev/null ||
	{ echo "lab: could not build $PYENV/python.img" >&2; exit 2; }
rm -rf "$PYENV/tree"
printf 'REPO=%q\nPYVER=%q\nLIBRESWAN_ROOT=%q\n' "$REPO" "$PYVER" "$LIBRESWAN_ROOT" > "$OUT/guest.env"
T_PACK=$(ts)

MEM=${LAB_MEM:-2G}
# udev would load kvm for the emulated CPU's SVM flag: ~20 s of a TCG boot for nothing
APPEND="modprobe.blacklist=kvm,kvm_amd,kvm_intel"
CPUS=${LAB_CPUS:-2}
if [ "$MODE" = demo ]; then
	TIMEOUT=${LAB_TIMEOUT:-900}
	GUEST="bash $REPO/tests/lab/guest/demo.sh $OUT"
else
	TIMEOUT=${LAB_TIMEOUT:-2700}
	GUEST="bash $REPO/tests/lab/guest/run-tests.sh $OUT"
	echo "lab: run $RUN_ID: kernel $KERNEL, $CPUS cpus, $MEM; results in $OUT"
fi

# --- boot the VM -----------------------------------------------------------
# `timeout` runs vng (and the qemu it forks) in a process group of its own and
# signals the whole group on expiry, so no qemu outlives the run.  vng passes
# on the guest script's exit status (255: the guest died).
boot_vm() {   # boot_vm TRY
	local budget
	budget=$(awk -v t="$TIMEOUT" -v a="$T_PACK" -v n="$(ts)" 'BEGIN{b=int(t-(n-a)); print (b < 60 ? 60 : b)}')
	if [ "$MODE" = demo ]; then
		timeout -k 10 "$budget" "$VNG" --disable-kvm --run "$KERNEL" --memory "$MEM" --cpus "$CPUS" \
			--rwdir="$OUT" --disk "$PYENV/python.img" --append "$APPEND" --exec "$GUEST" < /dev/null 2>&1 |
			tee "$OUT/console.log" | grep -v -e 'Image format was not specified' \
			-e 'Automatically detecting the format' -e "Specify the 'raw' format"
		VRC=${PIPESTATUS[0]}
		return
	fi
	timeout -k 10 "$budget" "$VNG" --verbose --disable-kvm --run "$KERNEL" --memory "$MEM" --cpus "$CPUS" \
		--rwdir="$OUT" --disk "$PYENV/python.img" --append "$APPEND" --exec "$GUEST" > "$OUT/console.log" 2>&1 < /dev/null &
	local vng_pid=$! seen_stages=0 seen_log=0 n
	trap 'kill -- -"$vng_pid" 2> /dev/null; exit 130' INT TERM
	# progress: the guest's stages and each test's outcome, as they happen
	while kill -0 "$vng_pid" 2> /dev/null; do
		if [ -f "$OUT/stages.log" ]; then
			n=$(wc -l < "$OUT/stages.log")
			if [ "$n" -gt "$seen_stages" ]; then
				sed -n "$((seen_stages + 1)),${n}p" "$OUT/stages.log" | sed "s/^/  [+$(dt "$T0" "$(ts)")s] guest uptime /"
				seen_stages=$n
			fi
		fi
		if [ -f "$OUT/pytest.log" ]; then
			n=$(wc -l < "$OUT/pytest.log")
			if [ "$n" -gt "$seen_log" ]; then
				sed -n "$((seen_log + 1)),${n}p" "$OUT/pytest.log" |
					grep -E ' (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)' | sed "s/^/  [+$(dt "$T0" "$(ts)")s] /"
				seen_log=$n
			fi
		fi
		sleep 2
	done
	wait "$vng_pid"
	VRC=$?
	trap - INT TERM
}

T_BOOT=$(ts)
VRC=255
for try in 1 2; do
	boot_vm "$try"
	# retry only when the guest never started (seen once: vng exited 255 with an
	# empty console); a guest that ran and failed is never retried
	[ -f "$OUT/guest-ready" ] && break
	echo "lab: VM attempt $try died before the guest started (vng status $VRC)" >&2
	tail -5 "$OUT/console.log" >&2
	mv "$OUT/console.log" "$OUT/console-attempt$try.log"
done
T_END=$(ts)
rm -rf "$PYENV"   # 400 MB (sparse) per run: rebuilt each time anyway

guest_ready=$(awk '{print $2}' "$OUT/guest-ready" 2> /dev/null)
pytest_start=$(awk '/pytest-starting/{print $1}' "$OUT/stages.log" 2> /dev/null)
pytest_end=$(awk '/pytest-done/{print $1}' "$OUT/stages.log" 2> /dev/null)
{
	echo "setup_s=$(dt "$T0" "$T_SETUP")"
	echo "pack_s=$(dt "$T_SETUP" "$T_PACK")"
	echo "vm_total_s=$(dt "$T_BOOT" "$T_END")"
	echo "guest_boot_s=${guest_ready:-?}"
	[ -n "$pytest_start" ] && [ -n "$pytest_end" ] && echo "pytest_s=$(dt "$pytest_start" "$pytest_end")"
	echo "total_s=$(dt "$T0" "$T_END")"
	echo "vng_status=$VRC"
} > "$OUT/timings.txt"

if [ "$MODE" = demo ]; then
	exit "$VRC"
fi
echo "--- timings ($OUT/timings.txt)"
cat "$OUT/timings.txt"
if [ -f "$OUT/pytest.log" ]; then
	echo "--- pytest ($OUT/pytest.log)"
	sed -n '/short test summary info/,$p' "$OUT/pytest.log" | sed '$d' | tail -40
	tail -1 "$OUT/pytest.log"
fi
if [ ! -f "$OUT/pytest.rc" ]; then
	echo "lab: pytest did not finish inside the VM (timeout ${TIMEOUT}s or guest crash; see $OUT/console.log)" >&2
	exit 1
fi
exit "$(cat "$OUT/pytest.rc")"
