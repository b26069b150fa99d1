#include "daemon/cli_terminal.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>

namespace katamari::cli {
namespace {

// Longer lines are not passphrases anyone types; the store takes at most 64 KiB.
constexpr size_t kMaxLine = 64 * 1024;

// What the signal handler needs to give the terminal its echo back. A
// handler can reach only globals; these are set while echo is off.
volatile sig_atomic_t g_restore_fd = -1;
struct termios g_saved_termios;

constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

extern "C" void RestoreAndReraise(int sig) {
  if (g_restore_fd >= 0) {
    tcsetattr(g_restore_fd, TCSANOW, &g_saved_termios);
    (void)!write(g_restore_fd, "\n", 1);
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

// The controlling terminal, opened for one question.
class Tty {
 public:
  Tty() : fd_(::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY)) {}
  ~Tty() {
    if (fd_ >= 0) ::close(fd_);
  }
  Tty(const Tty&) = delete;
  Tty& operator=(const Tty&) = delete;
  int fd() const { return fd_; }
  void Write(const std::string& s) const {
    size_t done = 0;
    while (done < s.size()) {
      ssize_t w = ::write(fd_, s.data() + done, s.size() - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return;
      done += static_cast<size_t>(w);
    }
  }

 private:
  int fd_;
};

// Turns echo off for its lifetime; a signal meanwhile restores it too.
class NoEcho {
 public:
  explicit NoEcho(int fd) : fd_(fd) {
    if (tcgetattr(fd_, &saved_) != 0) return;
    struct termios quiet = saved_;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    g_saved_termios = saved_;
    g_restore_fd = fd_;
    struct sigaction sa {};
    sa.sa_handler = RestoreAndReraise;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < std::size(kSignals); ++i) sigaction(kSignals[i], &sa, &old_[i]);
    active_ = tcsetattr(fd_, TCSAFLUSH, &quiet) == 0;
  }
  ~NoEcho() {
    if (active_) tcsetattr(fd_, TCSAFLUSH, &saved_);
    if (g_restore_fd == fd_) {
      g_restore_fd = -1;
      for (size_t i = 0; i < std::size(kSignals); ++i) sigaction(kSignals[i], &old_[i], nullptr);
    }
  }
  NoEcho(const NoEcho&) = delete;
  NoEcho& operator=(const NoEcho&) = delete;

 private:
  int fd_;
  bool active_ = false;
  struct termios saved_ {};
  struct sigaction old_[std::size(kSignals)] {};
};

// Reads up to a newline (canonical mode hands over one line per read).
Result<std::string> ReadLine(int fd) {
  std::string line;
  char buf[256];
  for (;;) {
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int err = errno;
      WipeString(&line);
      return Status::IOError(std::string("cannot read the passphrase from the terminal: ") +
                             strerror(err));
    }
    line.append(buf, static_cast<size_t>(r));
    explicit_bzero(buf, sizeof buf);
    if (r == 0 && line.empty()) {
      return Status::IOError("no passphrase entered (the input ended)");
    }
    if (r == 0 || line.back() == '\n' || line.size() > kMaxLine) break;
  }
  if (!line.empty() && line.back() == '\n') line.pop_back();
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.size() > kMaxLine) {
    WipeString(&line);
    return Status::InvalidArgument("the passphrase is longer than 64 KiB");
  }
  if (line.empty()) return Status::InvalidArgument("no passphrase entered (the line was empty)");
  return line;
}

}  // namespace

bool StdinIsTerminal() { return isatty(STDIN_FILENO) == 1; }

void WipeString(std::string* s) {
  explicit_bzero(s->data(), s->size());
  s->clear();
}

Result<std::string> AskPassphrase(const std::string& prompt) {
  Tty tty;
  if (tty.fd() < 0) {
    return Status::NotFound("there is no terminal to ask for the passphrase on");
  }
  Result<std::string> line = [&] {
    // Echo goes off before the prompt shows: whatever is typed after the
    // prompt is never echoed (turning it off flushes typeahead).
    NoEcho quiet(tty.fd());
    tty.Write(prompt);
    return ReadLine(tty.fd());
  }();
  tty.Write("\n");  // the user's Enter was not echoed
  return line;
}

Result<std::string> AskNewPassphrase(const std::string& prompt) {
  ASSIGN_OR_RETURN(std::string first, AskPassphrase(prompt));
  auto second = AskPassphrase("Repeat it: ");
  if (!second.ok()) {
    WipeString(&first);
    return second.status();
  }
  const bool same = first == *second;
  WipeString(&*second);
  if (!same) {
    WipeString(&first);
    return Status::InvalidArgument("the two passphrases differ");
  }
  return first;
}

Result<std::string> AskLine(const std::string& prompt) {
  Tty tty;
  if (tty.fd() < 0) return Status::NotFound("there is no terminal to ask on");
  tty.Write(prompt);
  auto line = ReadLine(tty.fd());
  if (!line.ok() && line.status().code() == Status::Code::kInvalidArgument) return std::string();
  return line;
}

bool IsYes(std::string_view answer) {
  while (!answer.empty() && std::isspace(static_cast<unsigned char>(answer.front()))) {
    answer.remove_prefix(1);
  }
  while (!answer.empty() && std::isspace(static_cast<unsigned char>(answer.back()))) {
    answer.remove_suffix(1);
  }
  std::string lower;
  for (char c : answer) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower == "y" || lower == "yes";
}

void TellTerminal(const std::string& line) {
  Tty tty;
  if (tty.fd() >= 0) tty.Write(line + "\n");
}

}  // namespace katamari::cli
