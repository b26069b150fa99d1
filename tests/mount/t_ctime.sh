#!/usr/bin/env bash
# ctime and mtime move at once with every change (docs/semantics.md, The live
# tree): write, truncate, fallocate, chmod, chown, utimens, link count,
# xattrs, rename; and stay where nothing changed (read, close, open). The
# same steps run on an ext4 directory in /var/tmp and on the mount; stat and
# fstat right after each call must tell the same story on both.
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
init_bucket
STEPS="$(dirname "$0")/ctime_steps.py"
REF=$(mktemp -d /var/tmp/katamari-ctime-ref.XXXXXX)
EXTRA_CLEANUP="rm -rf '$REF'"
python3 "$STEPS" "$REF" >"$WORK/ref.txt" || fail "the steps failed on ext4 ($REF)"

mount_fs
mkdir "$MNT/d"
python3 "$STEPS" "$MNT/d" >"$WORK/mnt.txt" || fail "the steps failed on the mount"
diff -u "$WORK/ref.txt" "$WORK/mnt.txt" || fail "ctime/mtime on the mount differ from ext4's"

# What stat showed is what the catalog holds: a close or a commit did not
# move ctime behind the kernel's cache (a remount asks the catalog).
times() { python3 -c 'import os,sys; s=os.stat(sys.argv[1]); print(s.st_ctime_ns, s.st_mtime_ns)' "$1"; }
python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_WRONLY); os.write(fd, b"q"); print(os.fstat(fd).st_ctime_ns, os.fstat(fd).st_mtime_ns); os.close(fd)' \
  "$MNT/d/f2" >"$WORK/at_write"
big=$(times "$MNT/d/f2")
unmount_fs
mount_fs
expect_eq "ctime and mtime of the last write after a remount" "$(times "$MNT/d/f2")" "$(cat "$WORK/at_write")"
expect_eq "and as stat showed before" "$big" "$(cat "$WORK/at_write")"

# a file streamed while written (more than 4 MiB, sequential) too
python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_CREAT|os.O_WRONLY, 0o644); [os.write(fd, b"s"*(1<<20)) for _ in range(6)]; print(os.fstat(fd).st_ctime_ns, os.fstat(fd).st_mtime_ns); os.close(fd)' \
  "$MNT/d/big" >"$WORK/big_write"
unmount_fs
mount_fs
expect_eq "ctime/mtime of a streamed file after a remount" "$(times "$MNT/d/big")" "$(cat "$WORK/big_write")"
unmount_fs
log "PASS"
