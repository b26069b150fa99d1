#!/usr/bin/env bash
# Version paths through the mount (docs/semantics.md, Version paths): NAME@N, NAME@-K, NAME@ as a
# directory, the editor pattern, delete and re-create, names that really
# contain '@', xattrs of versions, freshness after close(), cp NAME@3 NAME,
# deleting versions and whole histories, EROFS on every write path, and
# history hidden from other users by a tighter mode. Time views are in
# t_versions_time.sh, restore in t_versions_restore.sh.
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
init_bucket
ROOT=0
[ "$(id -u)" = 0 ] && ROOT=1
if [ $ROOT = 1 ]; then mount_fs -o allow_other; else mount_fs; fi
cd "$MNT"

xattr() { getfattr --absolute-names --only-values -n "$1" "$2"; }
listing() { ls "$1" | tr '\n' ' '; }

# ---- versions after several saves
echo one >f
echo two two >f
printf 'three three three\n' >f
expect_eq "f@1" "$(cat f@1)" one
expect_eq "f@2" "$(cat f@2)" "two two"
expect_eq "f@3" "$(cat f@3)" "three three three"
expect_eq "f@-1" "$(cat f@-1)" "two two"
expect_eq "f@-2" "$(cat f@-2)" one
[ ! -e f@-3 ] || fail "f@-3 exists with only three versions"
[ ! -e f@4 ] || fail "f@4 exists with only three versions"
[ ! -e f@0 ] || fail "f@0 exists"
expect_eq "NAME@ lists the versions" "$(listing f@)" "1 2 3 "
expect_eq "sizes in ls -l NAME@" "$(ls -l f@ | awk 'NR > 1 {print $5}' | tr '\n' ' ')" "4 8 18 "
expect_eq "NAME@/N reads like NAME@N" "$(cat f@/2)" "two two"
[ -d f@ ] || fail "f@ is not a directory"
[ -f f@2 ] || fail "f@2 is not a regular file"
expect_eq "version paths are not listed" "$(ls -A | tr '\n' ' ')" "f "
[ -z "$(find . -name '*@*')" ] || fail "find sees version paths"
cmp -s f@3 f || fail "cmp of identical version and live file"
if cmp -s f@1 f; then fail "cmp takes f@1 for f (same st_ino?)"; fi
[ "$(stat -c %i f@1)" != "$(stat -c %i f)" ] || fail "f@1 has the live file's inode number"
diff <(echo one) f@1 || fail "diff of f@1"
expect_eq "sha256sum of a version" "$(sha f@2)" "$(echo 'two two' | sha256sum | cut -d' ' -f1)"

# mtime of a version is the file's mtime when it was written
cp -p /etc/hostname pmt
expect_eq "version keeps its mtime" "$(stat -c %Y pmt@1)" "$(stat -c %Y /etc/hostname)"
echo later >>pmt
expect_eq "older version keeps its mtime" "$(stat -c %Y pmt@1)" "$(stat -c %Y /etc/hostname)"

# ---- editor pattern: write tmp, rename over; history continues. doc.new is not an
# excluded name (*.tmp is by default: then the temporary name keeps only its newest
# version; t_prune.sh), so its own history is kept too.
echo draft1 >doc
echo draft2 >doc.new && mv doc.new doc
echo draft3 >doc.new && mv doc.new doc
expect_eq "editor pattern history" "$(listing doc@)" "1 2 3 "
expect_eq "editor pattern doc@1" "$(cat doc@1)" draft1
expect_eq "editor pattern doc@-1" "$(cat doc@-1)" draft2
expect_eq "editor pattern current" "$(cat doc)" draft3
# no POSIX call destroys a version: the temporary name keeps its own history
expect_eq "the temporary name's history" "$(listing doc.new@)" "1 2 "
expect_eq "doc.new@1" "$(cat doc.new@1)" draft2
# ... unless its name is excluded: doc.tmp keeps its newest version only
echo draft4 >doc.tmp && mv doc.tmp doc
echo draft5 >doc.tmp && mv doc.tmp doc
expect_eq "editor pattern history through an excluded name" "$(listing doc@)" "1 2 3 4 5 "
expect_eq "doc@4" "$(cat doc@4)" draft4
expect_eq "the excluded temporary name's history" "$(listing doc.tmp@)" "2 "
expect_eq "doc.tmp@2" "$(cat doc.tmp@2)" draft5

# ---- delete, history kept, re-create continues numbering
echo a >r
echo b >r
rm r
[ ! -e r ] || fail "r still there after rm"
expect_eq "r@2 after rm r" "$(cat r@2)" b
expect_eq "r@ after rm r" "$(listing r@)" "1 2 "
echo c >r
expect_eq "numbering continues after re-create" "$(listing r@)" "1 2 3 "
expect_eq "r@3" "$(cat r@3)" c
expect_eq "r@1 still" "$(cat r@1)" a

# a file renamed away: its history goes with it
echo q1 >q
echo q2 >q
mv q q2
expect_eq "history follows a rename" "$(cat q2@1)" q1
[ ! -e q@1 ] || fail "q@1 still resolves after q was renamed to q2"

# ---- names that really contain '@'
echo real >me@2
echo v1 >me
echo v2 >me
expect_eq "a real me@2 wins over version 2 of me" "$(cat me@2)" real
expect_eq "me@ next to a real me@2" "$(cat me@/2)" v2
ls | grep -qx 'me@2' || fail "real me@2 not listed"
rm me@2
expect_eq "after rm of the real me@2, version 2 of me" "$(cat me@2)" v2
expect_eq "rm of the real file kept me's versions" "$(listing me@)" "1 2 "
echo at-b >a@b
expect_eq "a@b" "$(cat a@b)" at-b
echo home >@home
expect_eq "@home" "$(cat @home)" home
echo m1 >mail@host
echo m2 >mail@host
expect_eq "last '@' splits: mail@host@1" "$(cat mail@host@1)" m1
expect_eq "mail@host@-1" "$(cat mail@host@-1)" m1
expect_eq "mail@host@ lists" "$(listing mail@host@)" "1 2 "
expect_eq "real names with @ listed" "$(ls -d ./*@* | tr '\n' ' ')" "./@home ./a@b ./mail@host "

# ---- xattrs: each version has the user.* it was committed with
echo x1 >xa
setfattr -n user.color -v red xa
echo x2 >>xa
setfattr -n user.color -v blue xa
echo x3 >>xa
[ -z "$(getfattr --absolute-names -d xa@1)" ] || fail "xa@1 has xattrs it was not written with"
expect_eq "xa@2 user.color" "$(xattr user.color xa@2)" red
expect_eq "xa@3 user.color" "$(xattr user.color xa@3)" blue
getfattr --absolute-names -d xa@2 | grep -q 'user.color="red"' || fail "xa@2 does not list user.color"
getfattr --absolute-names -d -m - xa@2 | grep -q katamari && fail "version facts listed on xa@2"
for v in 1 2 3; do
  expect_eq "xa@$v sha256 fact" "$(xattr user.katamari.sha256 xa@$v)" "$(sha xa@$v)"
  expect_eq "xa@$v version fact" "$(xattr user.katamari.version xa@$v)" "$v"
done
expect_eq "live sha256 fact" "$(xattr user.katamari.sha256 xa)" "$(sha xa)"
expect_eq "live version fact" "$(xattr user.katamari.version xa)" 3
[ "$(xattr user.katamari.stored_size xa@2)" -gt 0 ] || fail "stored_size fact of xa@2"
expect_eq "mtime fact" "$(xattr user.katamari.mtime xa@1 | cut -c1-19)" \
  "$(date -u -d "@$(stat -c %Y xa@1)" +%Y-%m-%dT%H:%M:%S)"
xattr user.katamari.mtime xa@1 | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$' ||
  fail "mtime fact is not ISO-8601: $(xattr user.katamari.mtime xa@1)"
expect_fail "setfattr on a version" "read-only" setfattr -n user.color -v green xa@2
expect_fail "setfattr -x on a version" "read-only" setfattr -x user.color xa@2
expect_fail "set a fact" "not permitted" setfattr -n user.katamari.version -v 9 xa

# ---- freshness: right after close() the new version is there
ls -l fr@ >/dev/null 2>&1 || true
echo 0 >fr
ls -l fr@ >/dev/null
for i in $(seq 1 15); do
  echo "$i" >>fr
  n=$((i + 1))
  expect_eq "ls NAME@ right after close ($n)" "$(ls fr@ | sort -n | tail -n 1)" "$n"
  expect_eq "cat NAME@N right after close ($n)" "$(tail -n 1 fr@$n)" "$i"
  expect_eq "NAME@-1 moves at once ($n)" "$(wc -l <fr@-1)" "$i"
  expect_eq "ls -l NAME@ size of the new version ($n)" \
    "$(ls -lv fr@ | tail -n 1 | awk '{print $5}')" "$(stat -c %s fr)"
done

# ---- cp NAME@3 NAME restores through the mount
cp f@1 f
expect_eq "cp f@1 f" "$(cat f)" one
expect_eq "cp made a new version" "$(listing f@)" "1 2 3 4 "
cmp f@1 f@4 || fail "f@4 differs from f@1"
cp -r f@ "$WORK/f-history"
expect_eq "cp -r NAME@" "$(cat "$WORK/f-history/2")" "two two"

# ---- deleting versions
rm f@2
expect_eq "rm f@2" "$(listing f@)" "1 3 4 "
[ ! -e f@2 ] || fail "f@2 still readable after rm"
rm f@/1
expect_eq "rm f@/1" "$(listing f@)" "3 4 "
rm f@-1
expect_eq "rm f@-1 deletes version 3" "$(listing f@)" "4 "
echo five >f
expect_eq "numbers are not reused" "$(listing f@)" "4 5 "
rm f@5
expect_eq "deleting the newest makes the previous current" "$(cat f)" one
expect_eq "size follows" "$(stat -c %s f)" 4
expect_eq "version fact follows" "$(xattr user.katamari.version f)" 4
expect_fail "rmdir of a history that still holds versions" "not empty" rmdir f@

# whole history of a deleted file: its chunks are freed
head -c 3000000 /dev/urandom >big
head -c 3000000 /dev/urandom >big
before=$(du -sbc "$BUCKET/chunks" "$BUCKET/packs" 2>/dev/null | tail -1 | cut -f1)
rm big
expect_eq "history of a deleted file" "$(listing big@)" "1 2 "
rm -r big@
[ ! -e big@ ] || fail "big@ still there after rm -r"
[ ! -e big@1 ] || fail "big@1 still there after rm -r big@"
after=$(du -sbc "$BUCKET/chunks" "$BUCKET/packs" 2>/dev/null | tail -1 | cut -f1)
[ "$after" -lt $((before - 5000000)) ] || fail "rm -r big@ freed too little: $before -> $after"
echo new >big
expect_eq "a new file after the purge starts at 1" "$(listing big@)" "1 "

# whole history of a live file: the name stays, empty
rm -r doc@
expect_eq "live file after rm -r NAME@" "$(stat -c %s doc)" 0
expect_eq "empty history" "$(listing doc@)" ""

# ---- EROFS on every write path
ro() { expect_fail "$1" "read-only" "${@:2}"; }
ro "write a version" sh -c 'echo x >me@1'
ro "append to a version" sh -c 'echo x >>me@1'
ro "truncate a version" truncate -s 0 me@1
ro "touch a version" touch me@1
ro "chmod a version" chmod 600 me@1
ro "chown a version" chown 1:1 me@1
ro "hard link to a version" ln me@1 me-link
ro "rename a version away" mv me@1 me-moved
echo other >other
ro "rename onto a version path" mv other me@1
ro "create in NAME@" touch me@/9
ro "mkdir in NAME@" mkdir me@/d
ro "symlink in NAME@" ln -s x me@/l
ro "copy into NAME@" cp other me@/
ro "chmod NAME@" chmod 700 me@
ro "write through NAME@/N" sh -c 'echo x >me@/1'
python3 - me@1 <<'EOF' || fail "open(O_RDWR) of a version did not fail with EROFS"
import errno, os, sys
try:
    os.open(sys.argv[1], os.O_RDWR)
except OSError as e:
    sys.exit(0 if e.errno == errno.EROFS else 1)
sys.exit(1)
EOF
expect_eq "me unchanged by all that" "$(cat me)" v2
expect_eq "me@ unchanged by all that" "$(listing me@)" "1 2 "

# ---- tightening a mode protects the history
if [ $ROOT = 1 ]; then
  echo s1 >sec
  echo s2 >sec
  chmod 644 sec
  expect_eq "others read history of a 0644 file" "$(as_nobody cat sec@1)" s1
  expect_eq "version mode is the file's minus w" "$(stat -c %a sec@1)" 444
  chmod 600 sec
  expect_eq "an older version keeps its recorded mode" "$(stat -c %a sec@1)" 444
  expect_eq "the current version's mode follows chmod" "$(stat -c %a sec@2)" 400
  expect_fail "nobody reads sec@1 of a 0600 file" "denied\|not permitted" as_nobody cat sec@1
  expect_fail "nobody reads sec@-1" "denied\|not permitted" as_nobody cat sec@-1
  expect_fail "nobody lists sec@" "denied" as_nobody ls sec@
  expect_fail "nobody reads sec@/1" "denied\|not permitted" as_nobody cat sec@/1
  chown 1234:5678 sec
  expect_eq "the current version's owner follows chown" "$(stat -c %u:%g sec@2)" 1234:5678
  expect_eq "an older version keeps its recorded owner" "$(stat -c %u:%g sec@1)" 0:0
  expect_eq "root still reads" "$(cat sec@1)" s1
else
  log "not root: permission checks skipped"
fi

cd /
unmount_fs
log "ok"
