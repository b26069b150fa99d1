// Asking for a passphrase on the terminal, for the `katamari` CLI (docs/semantics.md, The command
// line: "without them the passphrase is asked on the terminal").
//
// The prompt goes to /dev/tty and the answer is read from it with echo off,
// so stdout and stderr can be redirected and stdin can carry data (`put -`)
// without the passphrase ending up in either. The terminal's settings are
// restored on return and also when SIGINT, SIGTERM, SIGHUP or SIGQUIT
// arrives while echo is off.
#pragma once

#include <string>
#include <string_view>

#include "store/status.h"

namespace katamari::cli {

// True if stdin is a terminal: the CLI asks for a passphrase only then, so
// scripts and pipes never block on a prompt.
bool StdinIsTerminal();

// Prints `prompt` on /dev/tty and reads one line without echo. The trailing
// newline is dropped. NotFound if there is no controlling terminal, IOError
// if reading fails or the input ends (Ctrl-D) before a newline,
// InvalidArgument if the line is empty.
Result<std::string> AskPassphrase(const std::string& prompt);

// A new passphrase: asked twice (`prompt`, then "Repeat it: "). Errors as
// AskPassphrase, and InvalidArgument if the two differ.
Result<std::string> AskNewPassphrase(const std::string& prompt);

// Prints `prompt` on /dev/tty and reads one line with echo on (a yes/no
// question). Errors as AskPassphrase, but an empty line is an empty answer.
Result<std::string> AskLine(const std::string& prompt);

// True if the answer means yes: "y" or "yes" in any case, blanks around
// ignored. Anything else (also an empty line) is no.
bool IsYes(std::string_view answer);

// Prints one line on /dev/tty (e.g. "wrong passphrase, try again"); does
// nothing without a terminal.
void TellTerminal(const std::string& line);

// Overwrites a secret's bytes before it is freed (not optimized away).
void WipeString(std::string* s);

}  // namespace katamari::cli
