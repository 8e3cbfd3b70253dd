#!/usr/bin/env bash
# The main job: two of our daemons in two network namespaces bring up an IKEv2
# tunnel (examples/ipsec.conf, PSK), a ping crosses it, `ipsec trafficstatus`
# shows the bytes, `ipsec down` and SIGTERM leave nothing behind.
#
# Real ESP needs a kernel with esp4; this machine's kernel lacks it, so the demo
# runs inside the kernel-lab VM (Debian's kernel under qemu, scripts/lab.sh),
# which this script sets up by itself. It says which it does.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -d /sys/module/esp4 ] || modprobe -n esp4 > /dev/null 2>&1; then
    echo "demo: this kernel has ESP, but the demo runs in the lab VM all the same (same steps everywhere)"
else
    echo "demo: this kernel ($(uname -r)) has no ESP (module esp4): running the demo inside the kernel-lab VM"
fi
exec bash scripts/lab.sh --demo
