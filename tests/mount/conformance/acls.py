"""POSIX ACLs through system.posix_acl_access / system.posix_acl_default (what setfacl
and getfacl do, in their binary xattr format), and the kernel enforcing them."""
import os
import struct

from harness import NOBODY, OTHER_GID, errname, write_file

ACCESS, DEFAULT = "system.posix_acl_access", "system.posix_acl_default"
USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
NAMES = {USER_OBJ: "user:", USER: "user:", GROUP_OBJ: "group:", GROUP: "group:",
         MASK: "mask:", OTHER: "other:"}
UNDEF = 0xFFFFFFFF


def acl(*entries):
    """entries: (tag, perm bits rwx as 0-7, id or None), in the canonical order."""
    out = struct.pack("<I", 2)
    for tag, perm, uid in sorted(entries, key=lambda e: (e[0], e[2] or 0)):
        out += struct.pack("<HHI", tag, perm, UNDEF if uid is None else uid)
    return out


def show_acl(raw):
    """getfacl's short text form of a binary ACL."""
    version, = struct.unpack_from("<I", raw)
    ents = []
    for i in range(4, len(raw), 8):
        tag, perm, uid = struct.unpack_from("<HHI", raw, i)
        rwx = "".join(c if perm & b else "-" for c, b in (("r", 4), ("w", 2), ("x", 1)))
        ents.append("%s%s:%s" % (NAMES.get(tag, hex(tag)), "" if uid == UNDEF else uid, rwx))
    return "v%d %s" % (version, ",".join(ents))


def get_acl(t, label, path, name=ACCESS):
    try:
        t.note("%s: %s" % (label, show_acl(os.getxattr(path, name))))
    except OSError as e:
        t.note("%s: %s" % (label, errname(e)))


BASIC_NOBODY_RW = acl((USER_OBJ, 6, None), (USER, 6, NOBODY[0]), (GROUP_OBJ, 4, None),
                      (MASK, 6, None), (OTHER, 0, None))


def s_access_acl(t):
    write_file("f", b"acl'd content")
    os.chmod("f", 0o640)
    t.stat("f")
    t.do("setxattr system.posix_acl_access", os.setxattr, "f", ACCESS, BASIC_NOBODY_RW)
    t.stat("f")
    get_acl(t, "getxattr access ACL", "f")
    t.val("listxattr", lambda: sorted(os.listxattr("f")))

    def as_nobody(t):
        t.do("nobody reads through the named-user entry", lambda: open("f", "rb").read())
        t.do("nobody writes through it", lambda: open("f", "ab").write(b"+"))
    t.as_nobody("nobody", as_nobody)
    t.do("chmod 0600 (sets the mask to ---)", os.chmod, "f", 0o600)
    t.stat("f")
    get_acl(t, "ACL after chmod", "f")
    t.as_nobody("nobody after chmod", lambda t: t.do(
        "nobody reads with the mask ---", lambda: open("f", "rb").read()))
    t.do("remove the ACL", os.removexattr, "f", ACCESS)
    t.stat("f")
    t.val("listxattr after remove", lambda: sorted(os.listxattr("f")))
    get_acl(t, "getxattr after remove", "f")


def s_acl_equivalent_to_mode(t):
    write_file("f", b"x")
    t.do("set an ACL with only the three base entries", os.setxattr, "f", ACCESS,
         acl((USER_OBJ, 7, None), (GROUP_OBJ, 5, None), (OTHER, 1, None)))
    t.stat("f")
    t.val("it becomes the mode, not an xattr", lambda: sorted(os.listxattr("f")))
    get_acl(t, "getxattr", "f")


def s_default_acl(t):
    os.mkdir("d")
    dflt = acl((USER_OBJ, 7, None), (USER, 7, NOBODY[0]), (GROUP_OBJ, 5, None),
               (GROUP, 5, OTHER_GID), (MASK, 7, None), (OTHER, 0, None))
    t.do("set a default ACL on a directory", os.setxattr, "d", DEFAULT, dflt)
    get_acl(t, "default ACL", "d", DEFAULT)
    t.stat("d")
    t.do("create a file in it (mode 0666, umask ignored)", write_file, "d/f", b"x", 0o666)
    t.stat("d/f")
    get_acl(t, "inherited access ACL of the file", "d/f")
    get_acl(t, "default ACL of the file", "d/f", DEFAULT)
    t.do("mkdir in it", os.mkdir, "d/sub", 0o777)
    t.stat("d/sub")
    get_acl(t, "access ACL of the subdirectory", "d/sub")
    get_acl(t, "default ACL of the subdirectory", "d/sub", DEFAULT)
    t.val("listxattr of the subdirectory", lambda: sorted(os.listxattr("d/sub")))
    t.do("remove the default ACL", os.removexattr, "d", DEFAULT)
    get_acl(t, "default ACL after remove", "d", DEFAULT)


def s_acl_errors(t):
    write_file("f", b"x")
    t.do("an ACL without an other entry", os.setxattr, "f", ACCESS,
         acl((USER_OBJ, 6, None), (GROUP_OBJ, 4, None)))
    t.do("named user without a mask", os.setxattr, "f", ACCESS,
         acl((USER_OBJ, 6, None), (USER, 6, NOBODY[0]), (GROUP_OBJ, 4, None), (OTHER, 0, None)))
    t.do("a bad version", os.setxattr, "f", ACCESS, b"\x07\0\0\0")
    t.do("a default ACL on a file", os.setxattr, "f", DEFAULT, BASIC_NOBODY_RW)
    t.stat("f")
    t.do("getxattr of the default ACL of a file", os.getxattr, "f", DEFAULT)
    t.as_nobody("nobody", lambda t: t.do("set an ACL on another's file", os.setxattr, "f",
                                         ACCESS, BASIC_NOBODY_RW))
