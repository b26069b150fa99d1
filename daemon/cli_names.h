// Names (keys) as the CLI prints them. A key may hold any byte but '/' and
// NUL: newlines, escape sequences, bytes that are not UTF-8. Printed raw on a
// terminal they would rewrite the screen, so on a terminal a name with such
// bytes is quoted the way GNU ls(1) quotes it there (its default
// "shell-escape" style: 'a'$'\n''b'), which a shell reads back as the exact
// name. Names without them, and everything written to a pipe or file, are
// printed as they are (like ls). --json is exact (see KeyJson).
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace katamari::cli {

// True if stdout is a terminal (checked once).
bool StdoutIsTerminal();

// True if `s` is well-formed UTF-8 (no overlongs, surrogates or values past
// U+10FFFF).
bool IsValidUtf8(std::string_view s);

// `name` unchanged if every byte is part of a printable UTF-8 character;
// else shell-escape quoted: printable runs in '...' (a ' as '\''), the
// others as $'...' with \a \b \t \n \v \f \r or three-digit octal escapes
// (C0 controls, DEL, C1 controls and bytes that are not UTF-8).
std::string ShellEscapeName(std::string_view name);

// ShellEscapeName(name) if stdout is a terminal, else `name` as it is.
std::string NameForStdout(std::string_view name);

// Standard base64 (RFC 4648, with padding).
std::string Base64(std::string_view bytes);

// Adds `field` = `name` to `obj`. JSON strings are Unicode, so a name that is
// not valid UTF-8 gets its bad bytes replaced by U+FFFD in `field` and, in
// addition, `field`_base64 = the exact bytes in base64. Valid names (also with
// control characters, which JSON escapes as \n, \u001b, ...) are exact as
// they are and get no _base64 field.
void PutName(nlohmann::json& obj, const std::string& field, std::string_view name);

}  // namespace katamari::cli
