// Catalog versions and xattrs (chunk rows and whole-bucket facts:
// catalog_chunks.cc).
//
// Reference counting (format 7, store/catalog_segments.h): a version row
// lists segments, segments.refs counts their occurrences in version rows and
// chunks.refs the chunks' occurrences in segment rows. Every insert/delete of
// a version row adjusts both in the same transaction, so chunks.refs == 0
// exactly when no version needs the chunk.
#include <algorithm>
#include <string>

#include "store/catalog.h"
#include "store/catalog_impl.h"
#include "store/catalog_segments.h"

namespace katamari {

namespace {

using catalog_format::DecodeXattrs;
using catalog_format::EncodeXattrs;
using catalog_format::VersionAad;
using catalog_format::XattrAad;

// Longest xattr value Linux accepts (XATTR_SIZE_MAX).
constexpr size_t kMaxXattrValue = 65536;
// SHA-256 of the empty string: the content of a file that never had a version.
constexpr char kEmptySha256Hex[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#define KATAMARI_VERSION_COLS                                                                \
  "ino, vno, seq, commit_time_ns, size, mtime_ns, sha256, stored_size, new_bytes, "          \
  "chunk_count, restored_from, xattrs, mode, uid, gid"
constexpr char kSqlGetVersion[] =
    "SELECT " KATAMARI_VERSION_COLS " FROM versions WHERE ino = ?1 AND vno = ?2";
constexpr char kSqlListVersions[] =
    "SELECT " KATAMARI_VERSION_COLS " FROM versions WHERE ino = ?1 ORDER BY vno";
constexpr char kSqlVersionAt[] = "SELECT " KATAMARI_VERSION_COLS
                                 " FROM versions WHERE ino = ?1 AND seq <= ?2 "
                                 "ORDER BY vno DESC LIMIT 1";
constexpr char kSqlNewestVersion[] =
    "SELECT vno, size, mtime_ns FROM versions WHERE ino = ?1 ORDER BY vno DESC LIMIT 1";
#undef KATAMARI_VERSION_COLS
constexpr char kSqlVersionChunks[] = "SELECT chunks FROM versions WHERE ino = ?1 AND vno = ?2";
constexpr char kSqlVersionListStored[] =
    "SELECT chunks, stored_size FROM versions WHERE ino = ?1 AND vno = ?2";
constexpr char kSqlVersionNos[] = "SELECT vno FROM versions WHERE ino = ?1 AND vno < ?2";
constexpr char kSqlInsertVersion[] =
    "INSERT INTO versions(ino, vno, seq, commit_time_ns, size, mtime_ns, sha256, "
    "stored_size, new_bytes, chunk_count, restored_from, xattrs, chunks, mode, uid, gid) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";
// The owner and mode a new version records: its file's at commit.
constexpr char kSqlInodeOwner[] = "SELECT mode, uid, gid FROM inodes WHERE id = ?1";
constexpr char kSqlRestampCurrent[] =
    "UPDATE versions SET (mode, uid, gid) = (SELECT mode, uid, gid FROM inodes WHERE id = ?1) "
    "WHERE ino = ?1 AND vno = (SELECT current_version FROM inodes WHERE id = ?1)";
constexpr char kSqlVersionOwners[] = "SELECT DISTINCT uid, gid FROM versions WHERE ino = ?1";
constexpr char kSqlNarrowVersions[] =
    "UPDATE versions SET mode = mode & ?4 WHERE ino = ?1 AND uid = ?2 AND gid = ?3";
constexpr char kSqlDeleteVersion[] = "DELETE FROM versions WHERE ino = ?1 AND vno = ?2";
constexpr char kSqlHasPinTableV[] =
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'version_pins'";
constexpr char kSqlDeleteVersionPins[] =
    "DELETE FROM version_pins WHERE ino = ?1 AND vno = ?2";
constexpr char kSqlSetContent[] =
    "UPDATE inodes SET current_version = ?2, size = ?3, mtime_ns = ?4, "
    "ctime_ns = max(ctime_ns, ?5) WHERE id = ?1";
constexpr char kSqlSetCurrent[] =
    "UPDATE inodes SET current_version = ?2, size = ?3 WHERE id = ?1";
// A version of another owner that becomes current again (the newer ones of
// the file's present owner deleted) brings its recorded owner and mode back
// with it: the live file must not show that content under the attributes of
// someone it never belonged to.
constexpr char kSqlOwnerFromVersion[] =
    "UPDATE inodes SET (mode, uid, gid) = "
    "(SELECT mode, uid, gid FROM versions WHERE ino = ?1 AND vno = ?2) "
    "WHERE id = ?1 AND (uid, gid) IS NOT "
    "(SELECT uid, gid FROM versions WHERE ino = ?1 AND vno = ?2)";
constexpr char kSqlSetNextVersion[] = "UPDATE inodes SET next_version = ?2 WHERE id = ?1";
constexpr char kSqlDropClosedNames[] =
    "DELETE FROM dentries WHERE ino = ?1 AND seq_end IS NOT NULL";
constexpr char kSqlIsParent[] = "SELECT EXISTS (SELECT 1 FROM dentries WHERE parent = ?1)";
constexpr char kSqlDropXattrs[] = "DELETE FROM xattrs WHERE ino = ?1";
constexpr char kSqlDropInode[] = "DELETE FROM inodes WHERE id = ?1";
constexpr char kSqlClearContent[] =
    "UPDATE inodes SET current_version = 0, size = 0 WHERE id = ?1";
constexpr char kSqlLiveXattrs[] = "SELECT name, value FROM xattrs WHERE ino = ?1 ORDER BY name";
constexpr char kSqlGetXattr[] = "SELECT 1 FROM xattrs WHERE ino = ?1 AND name = ?2";
constexpr char kSqlPutXattr[] =
    "INSERT OR REPLACE INTO xattrs(ino, name, value) VALUES(?1, ?2, ?3)";
constexpr char kSqlRemoveXattr[] = "DELETE FROM xattrs WHERE ino = ?1 AND name = ?2";
constexpr char kSqlCopyXattrs[] =
    "INSERT INTO xattrs(ino, name, value) SELECT ?1, name, value FROM xattrs WHERE ino = ?2";
// The merged target shows the source inode's attributes, as rename(2) would.
constexpr char kSqlCopyAttrs[] =
    "UPDATE inodes SET (mode, uid, gid, atime_ns, mtime_ns) = "
    "(SELECT mode, uid, gid, atime_ns, mtime_ns FROM inodes WHERE id = ?2), ctime_ns = ?3 "
    "WHERE id = ?1";
constexpr char kSqlInodeMtime[] = "SELECT mtime_ns FROM inodes WHERE id = ?1";

std::string VersionName(InodeId ino, VersionNo vno) {
  return "version " + std::to_string(vno.value) + " of inode " + std::to_string(ino.value);
}

// Reads a version row; sealed columns are opened with the field key.
Status RowToVersion(Catalog::Impl& impl, const sql::Query& q, VersionInfo* v) {
  v->ino = InodeId(q.U64(0));
  v->version = VersionNo(q.U64(1));
  v->seq = Seq(q.U64(2));
  v->commit_time_ns = q.Int(3);
  v->size = q.U64(4);
  v->mtime_ns = q.Int(5);
  const std::string what = VersionName(v->ino, v->version);
  v->sha256_pending = q.Blob(6).empty();  // completed later (docs/catalog.md, versions)
  if (v->sha256_pending) {
    v->sha256 = Sha256{};
  } else if (impl.settings.encrypted) {
    ASSIGN_OR_RETURN(std::string sha, impl.Unseal(VersionAad(catalog_format::kAadVersionSha256,
                                                             v->ino, v->version),
                                                  q.Blob(6), "SHA-256 of " + what));
    if (sha.size() != v->sha256.bytes.size()) {
      return Status::Corruption("catalog " + impl.path + ": the SHA-256 of " + what +
                                " has a bad length; run `katamari fsck`");
    }
    std::copy(sha.begin(), sha.end(), reinterpret_cast<char*>(v->sha256.bytes.data()));
  } else {
    ASSIGN_OR_RETURN(v->sha256, q.DigestAt(6));
  }
  v->stored_size = q.U64(7);
  v->new_bytes = q.U64(8);
  v->chunk_count = q.U64(9);
  if (!q.IsNull(10)) v->restored_from = VersionNo(q.U64(10));
  ASSIGN_OR_RETURN(std::string xattrs,
                   impl.Unseal(VersionAad(catalog_format::kAadVersionXattrs, v->ino, v->version),
                               q.Blob(11), "xattrs of " + what));
  ASSIGN_OR_RETURN(v->xattrs, DecodeXattrs(xattrs, what));
  v->mode = static_cast<uint32_t>(q.Int(12));
  v->uid = static_cast<uint32_t>(q.Int(13));
  v->gid = static_cast<uint32_t>(q.Int(14));
  return Status::OK();
}

Result<std::vector<VersionInfo>> CollectVersions(Catalog::Impl& impl, sql::Query& q) {
  std::vector<VersionInfo> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    out.emplace_back();
    RETURN_IF_ERROR(RowToVersion(impl, q, &out.back()));
  }
}

// `list`: the versions.chunks value (catalog_segments::Reference).
Status InsertVersion(Catalog::Impl& impl, const VersionInfo& v, std::string_view list) {
  const std::string_view sha(reinterpret_cast<const char*>(v.sha256.bytes.data()),
                             v.sha256.bytes.size());
  // A pending SHA-256 is the empty blob, unsealed: it says only "not known yet".
  std::string sha_col;
  if (!v.sha256_pending) {
    ASSIGN_OR_RETURN(sha_col,
                     impl.Seal(VersionAad(catalog_format::kAadVersionSha256, v.ino, v.version),
                               sha));
  }
  ASSIGN_OR_RETURN(std::string xattrs_col,
                   impl.Seal(VersionAad(catalog_format::kAadVersionXattrs, v.ino, v.version),
                             EncodeXattrs(v.xattrs)));
  ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlInsertVersion));
  q.BindAll(v.ino, v.version, v.seq, v.commit_time_ns, v.size, v.mtime_ns,
            std::string_view(sha_col), v.stored_size, v.new_bytes, v.chunk_count,
            v.restored_from);
  q.Bind(12, std::string_view(xattrs_col));
  q.Bind(13, list);
  q.Bind(14, v.mode).Bind(15, v.uid).Bind(16, v.gid);
  RETURN_IF_ERROR(q.Run());
  ASSIGN_OR_RETURN(sql::Query n, impl.db->Prepare(kSqlSetNextVersion));
  n.BindAll(v.ino, v.version.value + 1);
  return n.Run();
}

// Sets v's mode, uid and gid to those inode `ino` has now.
Status TakeOwner(Catalog::Impl& impl, InodeId ino, VersionInfo* v) {
  ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlInodeOwner));
  q.Bind(1, ino);
  ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return Status::NotFound("no inode " + std::to_string(ino.value));
  v->mode = static_cast<uint32_t>(q.Int(0));
  v->uid = static_cast<uint32_t>(q.Int(1));
  v->gid = static_cast<uint32_t>(q.Int(2));
  return Status::OK();
}

// The permission bits a version owned by rec_uid:rec_gid keeps so that it
// allows nobody more than it and the file's own `file` attributes allowed
// together: for each class of the version (owner, group, others), the bits
// of every class of the file a caller of that class may fall in.
uint32_t NarrowMask(uint32_t rec_uid, uint32_t rec_gid, uint32_t f_uid, uint32_t f_gid,
                    uint32_t f_mode) {
  const uint32_t fo = (f_mode >> 6) & 7, fg = (f_mode >> 3) & 7, fx = f_mode & 7;
  const bool same_uid = rec_uid == f_uid, same_gid = rec_gid == f_gid;
  // A caller that is not the file's owner may or may not be in its group,
  // unless the groups are the same (then membership is known).
  uint32_t owner = same_uid ? fo : fg & fx;
  uint32_t group = (same_uid ? 7 : fo) & (same_gid ? fg : fg & fx);
  uint32_t other = (same_uid ? 7 : fo) & (same_gid ? fx : fg & fx);
  return 07000 | owner << 6 | group << 3 | other;
}

Status SetContent(Catalog::Impl& impl, InodeId ino, VersionNo cur, uint64_t size,
                  int64_t mtime_ns, int64_t ctime_ns) {
  ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlSetContent));
  q.BindAll(ino, cur, size, mtime_ns, ctime_ns);
  return q.Run();
}

Result<std::vector<ChunkRef>> LoadChunks(Catalog::Impl& impl, InodeId ino, VersionNo vno) {
  ASSIGN_OR_RETURN(std::optional<sql::Txn> snapshot, catalog_segments::SnapshotIfNone(*impl.db));
  std::vector<ChunkRef> out;
  {
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlVersionChunks));
    q.BindAll(ino, vno);
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return Status::NotFound("no " + VersionName(ino, vno));
    ASSIGN_OR_RETURN(out, catalog_segments::Expand(*impl.db, q.Blob(0), VersionName(ino, vno)));
  }
  if (snapshot) RETURN_IF_ERROR(snapshot->Commit());
  return out;
}

Result<VersionInfo> LoadVersion(Catalog::Impl& impl, InodeId ino, VersionNo vno) {
  ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlGetVersion));
  q.BindAll(ino, vno);
  ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return Status::NotFound("no " + VersionName(ino, vno));
  VersionInfo v;
  RETURN_IF_ERROR(RowToVersion(impl, q, &v));
  return v;
}

Result<std::vector<VersionNo>> VersionsBelow(Catalog::Impl& impl, InodeId ino, VersionNo limit) {
  ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlVersionNos));
  q.BindAll(ino, limit);
  std::vector<VersionNo> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    out.push_back(VersionNo(q.U64(0)));
  }
}

Status ValidateNewVersion(const Catalog::NewVersion& v) {
  if (!v.pieces.empty()) return Status::OK();  // checked once resolved (AddVersionIn)
  uint64_t sum = 0;
  for (const ChunkRef& c : v.chunks) {
    if (c.raw_len == 0) {
      return Status::InvalidArgument("a chunk of the new version of inode " +
                                     std::to_string(v.ino.value) + " is empty");
    }
    sum += c.raw_len;
  }
  if (sum != v.size) {
    return Status::InvalidArgument("the chunks of the new version of inode " +
                                   std::to_string(v.ino.value) + " hold " + std::to_string(sum) +
                                   " bytes, not the declared size " + std::to_string(v.size));
  }
  return Status::OK();
}

// The list of an incremental commit (NewVersion::pieces) referenced; its
// size checked against the declared one.
Result<catalog_segments::Referenced> ReferenceEditPieces(Catalog::Impl& impl,
                                                         const Catalog::NewVersion& nv,
                                                         uint64_t* chunk_count) {
  const std::string what = VersionName(nv.pieces_base_ino, nv.pieces_base);
  std::string base_list;
  uint64_t base_stored = 0;
  {
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlVersionListStored));
    q.BindAll(nv.pieces_base_ino, nv.pieces_base);
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return Status::NotFound("no " + what + " (the base of an edit)");
    base_list = std::string(q.Blob(0));
    base_stored = q.U64(1);
  }
  ASSIGN_OR_RETURN(catalog_segments::ReferencedPieces r,
                   catalog_segments::ReferencePieces(*impl.db, nv.pieces, base_list, base_stored,
                                                     what));
  if (r.size != nv.size) {
    return Status::InvalidArgument("the chunks of the new version of inode " +
                                   std::to_string(nv.ino.value) + " hold " +
                                   std::to_string(r.size) + " bytes, not the declared size " +
                                   std::to_string(nv.size));
  }
  *chunk_count = r.chunk_count;
  return catalog_segments::Referenced(std::move(r));
}

}  // namespace

// ---- Impl helpers (mu held)

Status Catalog::Impl::RestampCurrentVersion(InodeId ino) {
  ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlRestampCurrent));
  q.Bind(1, ino);
  return q.Run();
}

Status Catalog::Impl::NarrowHistory(InodeId ino) {
  VersionInfo file;  // only its mode, uid, gid
  RETURN_IF_ERROR(TakeOwner(*this, ino, &file));
  std::vector<std::pair<uint32_t, uint32_t>> owners;
  {
    ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlVersionOwners));
    q.Bind(1, ino);
    for (;;) {
      ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      owners.emplace_back(static_cast<uint32_t>(q.Int(0)), static_cast<uint32_t>(q.Int(1)));
    }
  }
  for (const auto& [uid, gid] : owners) {
    ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlNarrowVersions));
    q.BindAll(ino, uid, gid, NarrowMask(uid, gid, file.uid, file.gid, file.mode));
    RETURN_IF_ERROR(q.Run());
  }
  return Status::OK();
}

Result<Xattrs> Catalog::Impl::LiveXattrs(InodeId ino) {
  ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlLiveXattrs));
  q.Bind(1, ino);
  Xattrs out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    std::string name = q.Str(0);
    ASSIGN_OR_RETURN(std::string value,
                     Unseal(XattrAad(name), q.Blob(1), "value of xattr " + QuoteName(name) +
                                                           " of inode " +
                                                           std::to_string(ino.value)));
    out.emplace(std::move(name), std::move(value));
  }
}

Status Catalog::Impl::DropVersion(InodeId ino, VersionNo vno) {
  {
    ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlVersionChunks));
    q.BindAll(ino, vno);
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return Status::NotFound("no " + VersionName(ino, vno));
    const std::string list(q.Blob(0));
    RETURN_IF_ERROR(q.Run());
    RETURN_IF_ERROR(catalog_segments::Release(*db, list, VersionName(ino, vno)));
  }
  ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlDeleteVersion));
  q.BindAll(ino, vno);
  return q.Run();
}

Status Catalog::Impl::Purge(InodeId ino) {
  ASSIGN_OR_RETURN(InodeRow r, LoadInode(ino));
  ASSIGN_OR_RETURN(int64_t names, LiveNameCount(ino));
  if (r.kind == FileKind::kDirectory) {
    // A directory has no versions. Its old names are what time views walk
    // to reach its children, so they go only with the whole directory.
    if (names > 0 || ino == kRootInode) return Status::OK();
    ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlIsParent));
    q.Bind(1, ino);
    RETURN_IF_ERROR(q.Step().status());
    if (q.Int(0) != 0) return Status::OK();
  }
  ASSIGN_OR_RETURN(std::vector<VersionNo> vnos, VersionsBelow(*this, ino, VersionNo(~0ULL >> 1)));
  for (VersionNo v : vnos) RETURN_IF_ERROR(DropVersion(ino, v));
  {
    ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlDropClosedNames));
    q.Bind(1, ino);
    RETURN_IF_ERROR(q.Run());
  }
  if (names > 0) {
    ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlClearContent));
    q.Bind(1, ino);
    return q.Run();
  }
  for (const char* sql : {kSqlDropXattrs, kSqlDropInode}) {
    ASSIGN_OR_RETURN(sql::Query q, db->Prepare(sql));
    q.Bind(1, ino);
    RETURN_IF_ERROR(q.Run());
  }
  return Status::OK();
}

namespace {

// What the live source file of a merge shows: its current version's facts
// and chunks, or (never written) the empty file with its live xattrs; and
// the mtime `stat` showed (set after the last commit by rsync -a, cp -p).
Status SourceContent(Catalog::Impl& impl, InodeId src, VersionInfo* v,
                     std::vector<ChunkRef>* chunks) {
  ASSIGN_OR_RETURN(Catalog::Impl::InodeRow s, impl.LoadInode(src));
  if (s.current_version.value != 0) {
    ASSIGN_OR_RETURN(*v, LoadVersion(impl, src, s.current_version));
    ASSIGN_OR_RETURN(*chunks, LoadChunks(impl, src, s.current_version));
  } else {
    v->sha256 = *Digest::FromHex(kEmptySha256Hex);
    ASSIGN_OR_RETURN(v->xattrs, impl.LiveXattrs(src));
  }
  ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlInodeMtime));
  q.Bind(1, src);
  RETURN_IF_ERROR(q.Step().status());
  v->mtime_ns = q.Int(0);
  return Status::OK();
}

// The merged target shows the source's mode, owner, times and live xattrs.
Status TakeOverAttrs(Catalog::Impl& impl, InodeId dst, InodeId src, int64_t ctime_ns) {
  {
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlCopyAttrs));
    q.BindAll(dst, src, ctime_ns);
    RETURN_IF_ERROR(q.Run());
  }
  {
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlDropXattrs));
    q.Bind(1, dst);
    RETURN_IF_ERROR(q.Run());
  }
  ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlCopyXattrs));
  q.BindAll(dst, src);
  return q.Run();
}

}  // namespace

Status Catalog::Impl::MergeInto(const Write& w, InodeId src, InodeId dst) {
  ASSIGN_OR_RETURN(InodeRow d, LoadInode(dst));
  VersionInfo v;
  std::vector<ChunkRef> chunks;
  RETURN_IF_ERROR(SourceContent(*this, src, &v, &chunks));
  ASSIGN_OR_RETURN(
      catalog_segments::Referenced t,
      catalog_segments::Reference(*db, &chunks, catalog_segments::MissingRows::kRefuse));
  v.ino = dst;
  v.version = d.next_version;
  v.seq = w.seq;
  v.commit_time_ns = w.time_ns;
  v.stored_size = t.stored_size;
  v.new_bytes = t.new_bytes;
  v.chunk_count = chunks.size();
  v.restored_from.reset();
  // The target takes the source's owner and mode (TakeOverAttrs): so does
  // the version it gets, whatever the source's own version recorded. Its
  // earlier versions keep no more than the target's own attributes allowed.
  RETURN_IF_ERROR(NarrowHistory(dst));
  RETURN_IF_ERROR(TakeOwner(*this, src, &v));
  RETURN_IF_ERROR(InsertVersion(*this, v, t.list));
  RETURN_IF_ERROR(TakeOverAttrs(*this, dst, src, w.time_ns));
  ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlSetCurrent));
  q.BindAll(dst, v.version, v.size);
  return q.Run();
}

// ---- versions

Result<VersionInfo> Catalog::AddVersion(const NewVersion& nv) {
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(Impl::Write w, impl_->BeginWrite());
  ASSIGN_OR_RETURN(VersionInfo v, impl_->AddVersionIn(w, nv));
  RETURN_IF_ERROR(w.txn.Commit());
  return v;
}

Sha256 Catalog::Impl::EmptyContentSha256() { return *Digest::FromHex(kEmptySha256Hex); }

Result<VersionInfo> Catalog::Impl::AddVersionIn(const Write& w, const NewVersion& nv) {
  RETURN_IF_ERROR(ValidateNewVersion(nv));
  Impl& impl = *this;
  ASSIGN_OR_RETURN(Impl::InodeRow r, impl.LoadInode(nv.ino));
  if (r.kind != FileKind::kRegular) {
    return Status::InvalidArgument("inode " + std::to_string(nv.ino.value) +
                                   " is not a regular file and cannot take a version");
  }
  if (nv.attrs) RETURN_IF_ERROR(impl.ApplyAttrChange(nv.ino, *nv.attrs, w.time_ns));
  VersionInfo v;
  if (nv.xattrs) {
    v.xattrs = *nv.xattrs;
  } else {
    ASSIGN_OR_RETURN(v.xattrs, impl.LiveXattrs(nv.ino));
  }
  std::vector<ChunkRef> chunks;
  catalog_segments::Referenced t;
  uint64_t chunk_count = 0;
  if (nv.pieces.empty()) {
    chunks = nv.chunks;
    ASSIGN_OR_RETURN(t, catalog_segments::Reference(*impl.db, &chunks,
                                                    catalog_segments::MissingRows::kRefuse));
    chunk_count = chunks.size();
  } else {
    ASSIGN_OR_RETURN(t, ReferenceEditPieces(impl, nv, &chunk_count));
  }
  v.ino = nv.ino;
  v.version = r.next_version;
  bool amend = nv.replaces && *nv.replaces == r.current_version &&
               r.next_version.value == nv.replaces->value + 1;
  if (amend) {
    // Not a version another process reads (Catalog::AddPin): it must not
    // change under that reader; the content becomes the next version.
    ASSIGN_OR_RETURN(auto pins, impl.PinnedVersions(nv.ino, /*include_own=*/false));
    amend = !pins.count(*nv.replaces) && !nv.held_here.count(*nv.replaces);
  }
  if (amend) {
    // Amend (see NewVersion::replaces): the same number, new content. The
    // new refs were raised first, so chunks both rows share never hit 0.
    RETURN_IF_ERROR(impl.DropVersion(nv.ino, *nv.replaces));
    v.version = *nv.replaces;
  }
  v.size = nv.size;
  v.mtime_ns = nv.mtime_ns;
  v.seq = w.seq;
  v.commit_time_ns = w.time_ns;
  v.sha256 = nv.sha256;
  v.sha256_pending = nv.sha256_pending;
  v.stored_size = t.stored_size;
  v.new_bytes = t.new_bytes;
  v.chunk_count = chunk_count;
  v.restored_from = nv.restored_from;
  RETURN_IF_ERROR(TakeOwner(impl, v.ino, &v));
  RETURN_IF_ERROR(InsertVersion(impl, v, t.list));
  RETURN_IF_ERROR(
      SetContent(impl, v.ino, v.version, v.size, v.mtime_ns, nv.ctime_ns.value_or(w.time_ns)));
  if (nv.release_own_pin) RETURN_IF_ERROR(impl.RemoveOwnPinIn(v.ino, *nv.release_own_pin));
  // An excluded name (docs/semantics.md, Retention and excludes) keeps only
  // its current content, as every file of a bucket without versioning does.
  // Only versions made under excluded names go (Impl::ExcludedVersions).
  std::optional<std::vector<VersionNo>> old;
  if (!impl.settings.versioning) {
    ASSIGN_OR_RETURN(old, VersionsBelow(impl, v.ino, v.version));
  } else {
    ASSIGN_OR_RETURN(old, impl.ExcludedVersions(v.ino, v.version));
  }
  if (old && !old->empty()) {
    // A reader or writer of another process based on one keeps it
    // (Catalog::AddPin), as does a reader of this one (held_here): it goes
    // when unpinned (versioning off: Catalog::ReleaseUnpinned), or with the
    // next commit or prune after that.
    ASSIGN_OR_RETURN(auto pins, impl.PinnedVersions(v.ino, /*include_own=*/false));
    for (VersionNo o : *old) {
      if (!pins.count(o) && !nv.held_here.count(o)) RETURN_IF_ERROR(impl.DropVersion(v.ino, o));
    }
  }
  return v;
}

Result<VersionInfo> Catalog::GetVersion(InodeId ino, VersionNo vno) {
  std::lock_guard<std::mutex> l(impl_->mu);
  return LoadVersion(*impl_, ino, vno);
}

Result<std::vector<VersionInfo>> Catalog::ListVersions(InodeId ino) {
  std::lock_guard<std::mutex> l(impl_->mu);
  RETURN_IF_ERROR(impl_->LoadInode(ino).status());
  ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(kSqlListVersions));
  q.Bind(1, ino);
  return CollectVersions(*impl_, q);
}

Result<VersionInfo> Catalog::VersionAt(InodeId ino, Seq at) {
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(kSqlVersionAt));
  q.BindAll(ino, at);
  ASSIGN_OR_RETURN(std::vector<VersionInfo> v, CollectVersions(*impl_, q));
  if (v.empty()) {
    return Status::NotFound("inode " + std::to_string(ino.value) + " had no version at commit " +
                            std::to_string(at.value));
  }
  return v.front();
}

Result<std::vector<ChunkRef>> Catalog::VersionChunks(InodeId ino, VersionNo vno) {
  std::lock_guard<std::mutex> l(impl_->mu);
  return LoadChunks(*impl_, ino, vno);
}

Result<std::vector<SegmentMeta>> Catalog::VersionSegments(InodeId ino, VersionNo vno) {
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(std::optional<sql::Txn> snapshot,
                   catalog_segments::SnapshotIfNone(*impl_->db));
  std::vector<SegmentMeta> out;
  {
    ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(kSqlVersionChunks));
    q.BindAll(ino, vno);
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return Status::NotFound("no " + VersionName(ino, vno));
    ASSIGN_OR_RETURN(out, catalog_segments::ListSegments(*impl_->db, q.Blob(0),
                                                         VersionName(ino, vno)));
  }
  if (snapshot) RETURN_IF_ERROR(snapshot->Commit());
  return out;
}

Result<std::vector<ChunkRef>> Catalog::SegmentChunks(int64_t segment) {
  std::lock_guard<std::mutex> l(impl_->mu);
  return catalog_segments::SegmentRefs(*impl_->db, segment, "segment " + std::to_string(segment));
}

Status Catalog::DeleteVersion(InodeId ino, VersionNo vno) {
  return DeleteVersion(ino, vno, /*forced=*/false);
}

Status Catalog::DeleteTornVersion(InodeId ino, VersionNo vno) {
  return DeleteVersion(ino, vno, /*forced=*/true);
}

Status Catalog::DeleteVersion(InodeId ino, VersionNo vno, bool forced) {
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& impl = *impl_;
  ASSIGN_OR_RETURN(Impl::Write w, impl.BeginWrite());
  ASSIGN_OR_RETURN(Impl::InodeRow r, impl.LoadInode(ino));
  if (forced) {
    // Its pins go with it (recovery: a power cut ended every holder).
    ASSIGN_OR_RETURN(sql::Query t, impl.db->Prepare(kSqlHasPinTableV));
    RETURN_IF_ERROR(t.Step().status());
    if (t.Int(0) != 0) {
      ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlDeleteVersionPins));
      q.BindAll(ino, vno);
      RETURN_IF_ERROR(q.Run());
    }
  } else {
    // The base of a file open for writing stays (Catalog::AddPin).
    ASSIGN_OR_RETURN(auto pins, impl.PinnedVersions(ino));
    auto it = pins.find(vno);
    if (it != pins.end()) return Status::Busy(PinnedMessage(vno, it->second));
  }
  RETURN_IF_ERROR(impl.DropVersion(ino, vno));
  ASSIGN_OR_RETURN(bool any, impl.AfterVersionsDropped(ino, r.current_version, {vno}, w.time_ns));
  if (!any) {
    ASSIGN_OR_RETURN(int64_t names, impl.LiveNameCount(ino));
    // A deleted file whose last version went is nothing but old names now.
    if (names == 0) RETURN_IF_ERROR(impl.Purge(ino));
  }
  return w.txn.Commit();
}

Result<bool> Catalog::Impl::AfterVersionsDropped(InodeId ino, VersionNo current,
                                                 const std::set<VersionNo>& dropped,
                                                 int64_t now) {
  std::optional<VersionInfo> newest;  // of the remaining versions
  {
    ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlNewestVersion));
    q.Bind(1, ino);
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (row) {
      newest.emplace();
      newest->version = VersionNo(q.U64(0));
      newest->size = q.U64(1);
      newest->mtime_ns = q.Int(2);
    }
  }
  if (dropped.count(current)) {
    // The previous version becomes current (docs/semantics.md, Version paths); its number stays
    // taken by next_version, so vno is never handed out again.
    if (newest) {
      RETURN_IF_ERROR(SetContent(*this, ino, newest->version, newest->size, newest->mtime_ns, now));
      ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlOwnerFromVersion));
      q.BindAll(ino, newest->version);
      RETURN_IF_ERROR(q.Run());
    } else {
      RETURN_IF_ERROR(SetContent(*this, ino, VersionNo(0), 0, now, now));
    }
  }
  return newest.has_value();
}

Status Catalog::PurgeHistory(InodeId ino) {
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(Impl::Write w, impl_->BeginWrite());
  {
    ASSIGN_OR_RETURN(auto pins, impl_->PinnedVersions(ino));
    if (!pins.empty()) {
      return Status::Busy(PinnedMessage(pins.begin()->first, pins.begin()->second));
    }
  }
  RETURN_IF_ERROR(impl_->Purge(ino));
  return w.txn.Commit();
}

// ---- xattrs

Result<Xattrs> Catalog::GetXattrs(InodeId ino) {
  std::lock_guard<std::mutex> l(impl_->mu);
  // One read transaction for both statements (each alone would be one).
  ASSIGN_OR_RETURN(std::optional<sql::Txn> snapshot,
                   catalog_segments::SnapshotIfNone(*impl_->db));
  RETURN_IF_ERROR(impl_->LoadInode(ino).status());
  ASSIGN_OR_RETURN(Xattrs x, impl_->LiveXattrs(ino));
  if (snapshot) RETURN_IF_ERROR(snapshot->Commit());
  return x;
}

Status Catalog::SetXattr(InodeId ino, std::string_view name, std::string_view value,
                         int flags) {
  if (name.empty()) return Status::InvalidArgument("an xattr name must not be empty");
  if (name.size() > 255) return Status::NameTooLong("xattr name longer than 255 bytes");
  if (value.size() > kMaxXattrValue) {
    return Status::InvalidArgument("xattr value of " + std::to_string(value.size()) +
                                   " bytes is larger than 65536 bytes");
  }
  if (flags < 0 || flags > 2) {
    return Status::InvalidArgument("invalid xattr flags " + std::to_string(flags));
  }
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& impl = *impl_;
  ASSIGN_OR_RETURN(Impl::Write w, impl.BeginWrite());
  RETURN_IF_ERROR(impl.LoadInode(ino).status());
  {
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlGetXattr));
    q.BindAll(ino, name);
    ASSIGN_OR_RETURN(bool present, q.Step());
    if (flags == 1 && present) {
      return Status::Exists("xattr " + QuoteName(name) + " already exists");
    }
    if (flags == 2 && !present) return Status::NotFound("no xattr " + QuoteName(name));
  }
  ASSIGN_OR_RETURN(std::string stored, impl.Seal(XattrAad(name), value));
  ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlPutXattr));
  q.BindAll(ino, name, std::string_view(stored));
  RETURN_IF_ERROR(q.Run());
  RETURN_IF_ERROR(impl.SetTimes(ino, std::nullopt, w.time_ns));
  return w.txn.Commit();
}

Status Catalog::RemoveXattr(InodeId ino, std::string_view name) {
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& impl = *impl_;
  ASSIGN_OR_RETURN(Impl::Write w, impl.BeginWrite());
  RETURN_IF_ERROR(impl.LoadInode(ino).status());
  {
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlRemoveXattr));
    q.BindAll(ino, name);
    RETURN_IF_ERROR(q.Run());
  }
  if (impl.db->Changes() == 0) return Status::NotFound("no xattr " + QuoteName(name));
  RETURN_IF_ERROR(impl.SetTimes(ino, std::nullopt, w.time_ns));
  return w.txn.Commit();
}

}  // namespace katamari
