"""Member names inside a recipe package: POSIX paths checked by the same rules on every OS, so that
a package that verifies here extracts to the same files on Linux, macOS and Windows.

A name is refused when it could leave the folder it is extracted into (absolute, ``..``, a drive
letter, a backslash), when some OS cannot create it (Windows reserved names such as ``CON``, a
part ending in a dot or a space, ``:`` and the other characters Windows refuses, control
characters), or when it would land on another member where names are compared without case or
Unicode normalisation (macOS, Windows): ``MemberNames`` finds those collisions.
"""

from __future__ import annotations

import re
import unicodedata

#: the longest part (file or folder name) allowed, in UTF-8 bytes: most file systems' limit
LONGEST_PART = 255
#: the longest name allowed, in UTF-8 bytes (Linux's PATH_MAX is 4096 for the whole path, with the folder)
LONGEST_NAME = 1024

_DRIVE = re.compile(r"[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # Unicode's category Cc
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_WINDOWS_FORBIDDEN = frozenset('<>"|?*')
#: Windows refuses these as a part's stem whatever the case and extension ("con.txt", "Aux.tar.gz")
_WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul", "conin$", "conout$"}
    | {f"{port}{digit}" for port in ("com", "lpt") for digit in (*"123456789", "¹", "²", "³")}
)


def check_member_name(name: str) -> str | None:
    """Why ``name`` cannot be a member of a package, or None when it can.

    ``name`` is a POSIX path relative to the package root, without a trailing ``/`` (a folder
    member's ``/`` is removed first). The reason is a short phrase for a one-line message:
    ``member 'x/../y': '..' in the path``.
    """
    if not name:
        return "an empty name"
    if "\0" in name:
        return "a NUL byte"
    control = _CONTROL.search(name)
    if control is not None:
        return f"a control character (U+{ord(control.group()):04X})"
    if _SURROGATE.search(name):
        return "a name that is not valid UTF-8"  # undecodable bytes, kept as surrogates by surrogateescape
    if name.startswith("/"):
        return "an absolute path"
    if _DRIVE.match(name):
        return "a drive letter"
    if "\\" in name:
        return "a backslash"
    if ":" in name:
        return "a ':' (an alternate data stream on Windows)"
    forbidden = next((char for char in name if char in _WINDOWS_FORBIDDEN), None)
    if forbidden is not None:
        return f"a character Windows does not allow in names ({forbidden!r})"
    for part in name.split("/"):
        reason = _check_part(part)
        if reason is not None:
            return reason
    if len(name.encode("utf-8")) > LONGEST_NAME:
        return f"a name longer than {LONGEST_NAME} bytes"
    return None


def _check_part(part: str) -> str | None:
    if part == "":
        return "an empty part"
    if part == "..":
        return "'..' in the path"
    if part == ".":
        return "'.' in the path"
    if part.endswith("."):
        return f"a part ending in a dot ({part!r}; Windows drops it)"
    if part.endswith(" "):
        return f"a part ending in a space ({part!r}; Windows drops it)"
    if part.split(".", 1)[0].rstrip(" ").casefold() in _WINDOWS_RESERVED:
        return f"a name reserved on Windows ({part!r})"
    if len(part.encode("utf-8")) > LONGEST_PART:
        return f"a part longer than {LONGEST_PART} bytes"
    return None


def case_key(name: str) -> str:
    """The key under which macOS and Windows would see ``name``: names with equal keys collide.

    Case is folded and Unicode composed (canonical caseless matching, NFC): ``A.txt`` and ``a.txt``,
    ``é`` written as one code point (NFC) or as ``e`` and a combining accent (NFD), ``Ä`` and ``ä``.
    """
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", name).casefold())


def parents(name: str) -> list[str]:
    """The folders above ``name``, outermost first: ``a/b/c`` -> ``["a", "a/b"]``."""
    parts = name.split("/")
    return ["/".join(parts[:end]) for end in range(1, len(parts))]


class MemberNames:
    """The names of a package's members seen so far, to refuse one that collides with them.

    Two members collide when they have the same name, the same ``case_key``, or when one is a file
    and the other needs it to be a folder (``a`` and ``a/b``). Folders are those named by folder
    members and those implied by the files in them; two spellings of one folder collide too.
    """

    __slots__ = ("_files", "_folders", "_folder_members")

    def __init__(self) -> None:
        self._files: dict[str, str] = {}  # case key -> name as written
        self._folders: dict[str, str] = {}
        self._folder_members: set[str] = set()

    def add(self, name: str, *, folder: bool = False) -> str | None:
        """Record ``name`` (a file, or a folder member when ``folder``); return why it collides, or None.

        A name that collides is not recorded. ``name`` must already pass ``check_member_name``.
        """
        key = case_key(name)
        reason = self._collision(name, key, folder)
        if reason is not None:
            return reason
        for parent in parents(name):
            self._folders[case_key(parent)] = parent
        if folder:
            self._folders[key] = name
            self._folder_members.add(key)
        else:
            self._files[key] = name
        return None

    def _collision(self, name: str, key: str, folder: bool) -> str | None:
        seen = self._files.get(key)
        if seen is not None:
            return _same(name, seen, "a file")
        seen = self._folders.get(key)
        if seen is not None:
            if not folder:
                return f"also a folder ({seen!r})" if seen != name else "also a folder"
            if key in self._folder_members or seen != name:
                return _same(name, seen, "a folder")
        for parent in parents(name):
            parent_key = case_key(parent)
            seen = self._files.get(parent_key)
            if seen is not None:
                return f"{seen!r} is a file, not a folder"
            seen = self._folders.get(parent_key)
            if seen is not None and seen != parent:
                return f"folder {parent!r} collides with {seen!r} where case and accents are ignored (macOS, Windows)"
        return None


def _same(name: str, seen: str, what: str) -> str:
    if seen == name:
        return "named twice"
    return f"collides with {what} {seen!r} where case and accents are ignored (macOS, Windows)"
