#!/bin/sh
# The DaemonSet's init container: installs the xdpath CNI plugin binary into
# the host's CNI bin dir. Atomic (a temp file in the same directory, renamed
# over the old binary, so the runtime never executes a half-written file) and
# idempotent. It does not write the conflist: the agent does, once its
# datapath is ready (cniConf in the agent config), so that kubelet does not
# schedule pods onto a node whose network is not up yet.
#
# Environment:
#   CNI_BIN_DIR     target directory (default /host/opt/cni/bin, the host's
#                   /opt/cni/bin as mounted by the DaemonSet)
#   XDPATH_CNI_SRC  the binary to install (default /usr/local/bin/xdpath)
set -eu

src=${XDPATH_CNI_SRC:-/usr/local/bin/xdpath}
dir=${CNI_BIN_DIR:-/host/opt/cni/bin}
dst="$dir/xdpath"

die() {
	echo "install-cni: error: $*" >&2
	exit 1
}

[ -f "$src" ] || die "plugin binary $src does not exist (XDPATH_CNI_SRC)"
[ -r "$src" ] || die "plugin binary $src is not readable"
[ -e "$dir" ] || die "CNI bin dir $dir does not exist (is the host's /opt/cni/bin mounted there? CNI_BIN_DIR)"
[ -d "$dir" ] || die "CNI bin dir $dir is not a directory (CNI_BIN_DIR)"

# Already installed (a restarted pod, a node reboot): leave it untouched.
if [ -f "$dst" ] && cmp -s "$src" "$dst" && [ "$(stat -c %a "$dst")" = 755 ]; then
	echo "install-cni: $dst is up to date"
	exit 0
fi

tmp=$(mktemp "$dir/.xdpath.XXXXXX" 2>/dev/null) ||
	die "cannot create a file in $dir (read-only or not writable?)"
# Never leave the temp file behind, whatever fails below.
trap 'rm -f "$tmp"' EXIT
cp "$src" "$tmp" || die "cannot copy $src to $tmp"
chmod 755 "$tmp" || die "cannot chmod $tmp"
mv -f "$tmp" "$dst" || die "cannot rename $tmp to $dst"
trap - EXIT
echo "install-cni: installed $dst"
