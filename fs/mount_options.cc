#include "fs/mount_options.h"

#include <algorithm>
#include <array>
#include <charconv>

namespace katamari::fs {

namespace {

// Flags libfuse passes to mount(2) (lib/mount.c mount_flags).
constexpr std::array<std::string_view, 21> kKernelFlags = {
    "ro",       "rw",       "suid",       "nosuid",    "dev",        "nodev",
    "exec",     "noexec",   "async",      "sync",      "dirsync",    "atime",
    "noatime",  "diratime", "nodiratime", "lazytime",  "nolazytime", "relatime",
    "norelatime", "strictatime", "nostrictatime"};

// Words fstab and mount(8) may hand to a helper that mean nothing to us.
constexpr std::array<std::string_view, 8> kIgnored = {
    "defaults", "_netdev", "nofail", "auto", "noauto", "user", "users", "nouser"};

bool Contains(const auto& list, std::string_view word) {
  return std::find(list.begin(), list.end(), word) != list.end();
}

Status Refuse(std::string_view option, std::string_view why) {
  return Status::InvalidArgument("mount option '" + std::string(option) + "': " +
                                 std::string(why));
}

Status ParseValued(std::string_view key, std::string_view value, std::string_view option,
                   MountOptions* opts) {
  if (key == "compression") {
    auto codec = ParseCodec(value);
    if (!codec) return Refuse(option, "expected zstd, zlib or none");
    opts->compression = *codec;
  } else if (key == "level") {
    int level = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), level);
    if (ec != std::errc() || end != value.data() + value.size() || level < -7 || level > 22) {
      return Refuse(option, "expected a compression level (zstd -7..22, zlib 0..9)");
    }
    opts->level = level;
  } else if (key == "keyfile" || key == "passphrase_file") {
    if (value.empty()) return Refuse(option, "expected a file name");
    (key == "keyfile" ? opts->keyfile : opts->passphrase_file) = std::string(value);
    if (!opts->keyfile.empty() && !opts->passphrase_file.empty()) {
      return Refuse(option, "give keyfile= or passphrase_file=, not both");
    }
  } else if (key == "fsname") {
    if (value.empty()) return Refuse(option, "empty value");
    opts->fsname = std::string(value);
  } else if (key == "subtype") {
    if (value.empty()) return Refuse(option, "empty value");
    opts->subtype = std::string(value);
  } else if (key == "comment" || key.substr(0, 2) == "x-") {
    // fstab / systemd annotations
  } else {
    return Refuse(option, "unknown option (see katamarifs --help)");
  }
  return Status::OK();
}

Status ParseOne(std::string_view option, MountOptions* opts) {
  if (auto eq = option.find('='); eq != std::string_view::npos) {
    return ParseValued(option.substr(0, eq), option.substr(eq + 1), option, opts);
  }
  if (Contains(kKernelFlags, option)) {
    if (option == "ro") opts->read_only = true;
    if (option == "rw") opts->read_only = false;
    opts->kernel_flags.emplace_back(option);
  } else if (option == "allow_other") {
    opts->allow_other = true;
  } else if (option == "auto_unmount") {
    opts->auto_unmount = true;
  } else if (option == "debug") {
    opts->debug = true;
  } else if (option == "default_permissions" || Contains(kIgnored, option) ||
             option.substr(0, 2) == "x-") {
    // always on / fstab-only
  } else {
    return Refuse(option, "unknown option (see katamarifs --help)");
  }
  return Status::OK();
}

}  // namespace

Status ParseMountOptions(std::string_view list, MountOptions* opts) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view option = list.substr(0, comma);
    if (!option.empty()) RETURN_IF_ERROR(ParseOne(option, opts));
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return Status::OK();
}

namespace {
// libfuse splits -o on commas and takes backslash escapes.
std::string Escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == ',' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}
}  // namespace

std::string FuseOptionString(const MountOptions& opts) {
  std::string out = "default_permissions";
  if (!opts.fsname.empty()) out += ",fsname=" + Escape(opts.fsname);
  if (!opts.subtype.empty()) out += ",subtype=" + Escape(opts.subtype);
  if (opts.allow_other) out += ",allow_other";
  if (opts.auto_unmount) out += ",auto_unmount";
  for (const auto& flag : opts.kernel_flags) out += "," + flag;
  return out;
}

}  // namespace katamari::fs
