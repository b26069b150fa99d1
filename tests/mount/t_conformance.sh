#!/usr/bin/env bash
# Conformance (docs/semantics.md, "The live tree"): every scenario of
# tests/mount/conformance/ runs on the mount and on a directory of the kernel's own
# file system in the same run, and the two transcripts must match (a diff names the
# scenario). Mounted with allow_other; run as root (checking each permission rule as
# `nobody` against root's files), then as `nobody` on directories it owns on both sides
# (no root bypass). The bucket must pass fsck afterwards.
#
# KATAMARI_CONFORMANCE="-k rename -k xattrs" passes options to run.py (e.g. to run a
# subset, or -v to print every transcript).
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
[ "$(id -u)" = 0 ] || { log "SKIP: needs root (runs as root and as nobody)"; exit 77; }
PY=/usr/bin/python3  # the system's, so that it runs as nobody too
RUN="$(cd "$(dirname "$0")" && pwd)/conformance/run.py"
read -r -a ARGS <<<"${KATAMARI_CONFORMANCE:-}"

# The reference sits beside the bucket: one file system, so statfs totals compare.
REF="$WORK/ref"
mkdir "$REF"
case $(stat -f -c %T "$REF") in
  ext2/ext3 | tmpfs) ;;
  *) fail "the reference $REF is on $(stat -f -c %T "$REF"), not ext4 or tmpfs; set TMPDIR" ;;
esac

init_bucket
mount_fs -o allow_other
rc=0
mkdir "$REF/root" "$MNT/root"
log "as root"
"$PY" "$RUN" "${ARGS[@]}" "$REF/root" "$MNT/root" || rc=1
mkdir "$REF/nobody" "$MNT/nobody"
chown "$NOBODY_UID:$NOBODY_GID" "$REF/nobody" "$MNT/nobody"
log "as nobody"
as_nobody "$PY" "$RUN" "${ARGS[@]}" "$REF/nobody" "$MNT/nobody" || rc=1
# On a mismatch, cleanup unmounts: a scenario killed in a hung call (TIMEOUT) keeps the
# mount busy until the daemon is gone.
[ $rc = 0 ] || fail "the mount differs from the reference file system (diffs above)"
unmount_fs
"$KATAMARI" -b "$BUCKET" fsck >"$WORK/fsck.out" 2>&1 || {
  cat "$WORK/fsck.out"
  fail "fsck after the conformance scenarios"
}
log "ok"
