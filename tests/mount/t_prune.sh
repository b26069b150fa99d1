#!/usr/bin/env bash
# Retention while mounted (docs/semantics.md, Retention and excludes): `katamari prune`
# run beside the daemon frees space (chunks/ shrinks after prune + gc), and the mount's
# NAME@ listings, NAME@N paths and DIR@TIME views drop the removed versions at once
# while the kept ones stay byte-exact. Excluded names (*.tmp, *-wal) keep one version
# while written through the mount, and an atomic save through NAME.tmp keeps NAME's
# history.
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
init_bucket
mount_fs
K=("$KATAMARI" -b "$BUCKET")

# wait_for WHAT CMD...: polls CMD (up to 5 s) until it succeeds. The kernel may keep a
# looked-up name or a listing for the attribute timeout (1 s).
wait_for() {
  local what=$1
  shift
  for _ in $(seq 50); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  fail "$what: still not so after 5 s"
}
listing_is() { [ "$(ls "$MNT/$1@" | LC_ALL=C sort -n | tr '\n' ' ')" = "$2" ]; }
missing() { ! cat "$MNT/$1" >/dev/null 2>&1; }
chunk_bytes() { du -sbc "$BUCKET/chunks" "$BUCKET/packs" | tail -1 | cut -f1; }

# Four versions of data/f, each 400 KB of its own random bytes, a second apart so
# that each one has a moment of its own for the time views.
mkdir "$MNT/data"
declare -a WHEN
for i in 1 2 3 4; do
  head -c 400000 /dev/urandom >"$WORK/v$i"
  cp "$WORK/v$i" "$MNT/data/f"
  sleep 1.1
  WHEN[$i]=$(date -u +%Y-%m-%dT%H:%M:%SZ)
done
expect_eq "versions before" "$(versions data/f)" 4
listing_is data/f "1 2 3 4 " || fail "data/f@ before: $(ls "$MNT/data/f@" | tr '\n' ' ')"
cmp -s "$MNT/data/f@2" "$WORK/v2" || fail "data/f@2 before prune"
cmp -s "$MNT/data@${WHEN[2]}/f" "$WORK/v2" || fail "data@T2/f before prune"

# Excluded names keep only their current content while mounted.
for i in 1 2 3; do echo "draft $i" >"$MNT/data/notes.tmp"; done
for i in 1 2 3; do echo "frame $i" >>"$MNT/data/app.db-wal"; done
expect_eq "notes.tmp versions" "$(versions data/notes.tmp)" 1
expect_eq "app.db-wal versions" "$(versions data/app.db-wal)" 1
expect_eq "notes.tmp content" "$(cat "$MNT/data/notes.tmp")" "draft 3"
expect_eq "app.db-wal content" "$(cat "$MNT/data/app.db-wal")" "$(printf 'frame 1\nframe 2\nframe 3')"
one_entry() { [ "$(ls "$MNT/$1@" | wc -l)" = 1 ]; }
wait_for "notes.tmp@ lists one version" one_entry data/notes.tmp
# Excludes changed while mounted apply at the next commit, without a remount.
"${K[@]}" exclude add '*.draft' >/dev/null
for i in 1 2; do echo "d $i" >"$MNT/data/x.draft"; done
expect_eq "x.draft versions (excluded while mounted)" "$(versions data/x.draft)" 1
"${K[@]}" exclude remove '*.tmp' >/dev/null
echo "draft 4" >"$MNT/data/notes.tmp"
expect_eq "notes.tmp versions after exclude remove" "$(versions data/notes.tmp)" 2

# The editor pattern through an excluded temporary name: doc keeps its history.
echo "doc 1" >"$MNT/data/doc"
echo "doc 2" >"$MNT/data/doc.swp"
echo "doc 2" >"$MNT/data/doc.swp"
mv "$MNT/data/doc.swp" "$MNT/data/doc"
expect_eq "doc versions" "$(versions data/doc)" 2
expect_eq "doc@1" "$(cat "$MNT/data/doc@1")" "doc 1"
expect_eq "doc@2" "$(cat "$MNT/data/doc@2")" "doc 2"

# Prune data/f to its two newest versions, beside the mount.
"${K[@]}" policy set --path 'data/f' keep-last=2 >/dev/null
"${K[@]}" prune --dry-run --json >"$WORK/dry.json"
expect_eq "dry run plan" "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sorted((f["key"], f["removed"]) for f in d["files"]))' "$WORK/dry.json")" \
  "[('data/f', [1, 2])]"
listing_is data/f "1 2 3 4 " || fail "a dry run changed the listing"
before=$(chunk_bytes)
"${K[@]}" prune >"$WORK/prune.out" || fail "prune: $(cat "$WORK/prune.out")"
grep -q "^data/f: removed 2 versions (1-2), kept 2$" "$WORK/prune.out" ||
  fail "prune output: $(cat "$WORK/prune.out")"
# The daemon's open pack holds those versions; its syncer seals it once idle for two
# sync intervals, and only then may gc in this process rewrite it.
packs_unlocked() {
  local p
  for p in "$BUCKET"/packs/*/*; do
    [ -f "$p" ] || continue
    flock -n -s "$p" true || return 1
  done
}
for _ in $(seq 600); do packs_unlocked && break; sleep 0.1; done
packs_unlocked || fail "the daemon's idle pack was still locked after 60 s"
"${K[@]}" gc >/dev/null || fail "gc after prune"
after=$(chunk_bytes)
[ "$after" -le $((before - 700000)) ] || fail "chunks/ did not shrink by two versions: $before -> $after"

# The mount shows it at once (within the attribute timeout).
wait_for "data/f@ lists 3 4" listing_is data/f "3 4 "
wait_for "data/f@1 is gone" missing data/f@1
wait_for "data/f@2 is gone" missing data/f@2
cmp -s "$MNT/data/f@3" "$WORK/v3" || fail "kept data/f@3 differs"
cmp -s "$MNT/data/f@4" "$WORK/v4" || fail "kept data/f@4 differs"
cmp -s "$MNT/data/f@-1" "$WORK/v3" || fail "data/f@-1 differs"
cmp -s "$MNT/data/f" "$WORK/v4" || fail "live data/f differs"
# Time views: moments whose version was kept read it exactly; a moment whose
# version was pruned no longer shows that content.
cmp -s "$MNT/data@${WHEN[3]}/f" "$WORK/v3" || fail "data@T3/f differs"
cmp -s "$MNT/@${WHEN[4]}/data/f" "$WORK/v4" || fail "@T4/data/f differs"
cmp -s "$MNT/data/f@${WHEN[3]}" "$WORK/v3" || fail "data/f@T3 differs"
# (documented: the file has nothing to show then: ENOENT, and not listed).
gone_at() { [ ! -e "$1" ] && ! cat "$1" 2>/dev/null; }
not_listed() { ! ls "$1" | grep -qx "$2"; }
wait_for "data@T2/f no longer shows version 2" gone_at "$MNT/data@${WHEN[2]}/f"
wait_for "data/f@T1 no longer shows version 1" gone_at "$MNT/data/f@${WHEN[1]}"
wait_for "ls data@T2/ no longer lists f" not_listed "$MNT/data@${WHEN[2]}" f
cmp -s "$MNT/data@${WHEN[3]}/f" "$WORK/v3" || fail "data@T3/f differs after the others went"
wait_for "data/f@-2 counts only the kept versions" missing data/f@-2
# The rest of the tree is untouched, and the bucket is sound.
expect_eq "doc versions after prune" "$(versions data/doc)" 2
"${K[@]}" fsck >/dev/null || fail "fsck after prune while mounted"

# Written after the prune: the mount keeps working as before.
cp "$WORK/v1" "$MNT/data/f"
wait_for "data/f@ lists 3 4 5" listing_is data/f "3 4 5 "
cmp -s "$MNT/data/f@5" "$WORK/v1" || fail "data/f@5 differs"
unmount_fs
