// S3 credentials from a file or the environment (never argv, never logged).
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "store/s3_object_store.h"

namespace katamari {
namespace {

std::string Trim(std::string s) {
  size_t b = s.find_first_not_of(" \t\r");
  size_t e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

Result<S3Credentials> FromFile(const std::string& path, const std::string& how) {
  struct stat sb;
  if (::stat(path.c_str(), &sb) != 0) {
    return Status::FromErrno(errno, "read S3 credentials file " + path + " (" + how + ")");
  }
  if ((sb.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(sb.st_mode & 07777));
    return Status::Permission("S3 credentials file " + path + " is readable by others (mode " +
                              mode + "): chmod 600 " + path);
  }
  std::ifstream in(path);
  if (!in) return Status::FromErrno(errno, "open S3 credentials file " + path);
  S3Credentials c;
  c.source = "file " + path;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    line = Trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';' || line[0] == '[') continue;
    size_t eq = line.find('=');
    if (eq == std::string::npos) {
      return Status::InvalidArgument("S3 credentials file " + path + " line " +
                                     std::to_string(lineno) +
                                     ": want 'access_key_id = ...' or 'secret_access_key = ...'");
    }
    std::string name = Trim(line.substr(0, eq));
    std::string value = Trim(line.substr(eq + 1));
    if (name.rfind("aws_", 0) == 0) name = name.substr(4);
    if (name == "access_key_id") c.access_key_id = value;
    if (name == "secret_access_key") c.secret_access_key = value;
  }
  if (c.access_key_id.empty() || c.secret_access_key.empty()) {
    return Status::InvalidArgument("S3 credentials file " + path +
                                   " lacks access_key_id or secret_access_key");
  }
  return c;
}

}  // namespace

Result<S3Credentials> LoadS3Credentials(const std::string& file) {
  if (!file.empty()) return FromFile(file, "given");
  if (const char* f = std::getenv("KATAMARI_S3_CREDENTIALS"); f != nullptr && *f != '\0') {
    return FromFile(f, "named by $KATAMARI_S3_CREDENTIALS");
  }
  const char* id = std::getenv("AWS_ACCESS_KEY_ID");
  const char* secret = std::getenv("AWS_SECRET_ACCESS_KEY");
  if (id != nullptr && *id != '\0' && secret != nullptr && *secret != '\0') {
    return S3Credentials{id, secret, "environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"};
  }
  return Status::InvalidArgument(
      "no S3 credentials: set KATAMARI_S3_CREDENTIALS to a mode-600 file with "
      "'access_key_id = ...' and 'secret_access_key = ...' lines, or set "
      "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
}

}  // namespace katamari
