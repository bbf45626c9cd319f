"""Member names: the same rules on every OS, with Windows and macOS names among the cases."""

from __future__ import annotations

import unicodedata

import pytest

from framework0.isolation.paths import MemberNames, case_key, check_member_name, parents

NFC_E = unicodedata.normalize("NFC", "é")
NFD_E = unicodedata.normalize("NFD", "é")


@pytest.mark.parametrize(
    "name",
    [
        "recipe.yaml",
        "steps/load.py",
        "a/b/c/d.txt",
        ".hidden",
        "..a",
        "a..b",
        "data/été.csv",
        "console.txt",  # a reserved stem only when it is the whole stem
        "aux1",
        "com10.py",
        "x.y.z",
        " leading-space",
        "Ä/ä.txt",
        "a" * 255,
    ],
)
def test_a_plain_relative_posix_name_is_accepted(name: str) -> None:
    assert check_member_name(name) is None


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "an empty name"),
        ("a\0b", "a NUL byte"),
        ("a\x1bb", "a control character (U+001B)"),
        ("a\nb", "a control character (U+000A)"),
        ("a\x7f", "a control character (U+007F)"),
        ("a\x85b", "a control character (U+0085)"),
        ("bad\udc80.txt", "a name that is not valid UTF-8"),
        ("/abs", "an absolute path"),
        ("/", "an absolute path"),
        ("C:\\x", "a drive letter"),
        ("c:x", "a drive letter"),
        ("Z:", "a drive letter"),
        ("x\\..\\..\\y", "a backslash"),
        ("\\\\server\\share\\x", "a backslash"),
        ("a\\b", "a backslash"),
        ("a:b", "a drive letter"),  # Windows reads it as b in drive A's current folder
        ("ab:c", "a ':' (an alternate data stream on Windows)"),
        ("file.txt:secret", "a ':' (an alternate data stream on Windows)"),
        ("a?b", "a character Windows does not allow in names ('?')"),
        ("a*b", "a character Windows does not allow in names ('*')"),
        ('a"b', "a character Windows does not allow in names ('\"')"),
        ("a<b", "a character Windows does not allow in names ('<')"),
        ("a>b", "a character Windows does not allow in names ('>')"),
        ("a|b", "a character Windows does not allow in names ('|')"),
        ("a//b", "an empty part"),
        ("a/", "an empty part"),
        ("../x", "'..' in the path"),
        ("a/../b", "'..' in the path"),
        ("a/..", "'..' in the path"),
        ("./a", "'.' in the path"),
        ("a/./b", "'.' in the path"),
        ("x.", "a part ending in a dot ('x.'; Windows drops it)"),
        ("a./b", "a part ending in a dot ('a.'; Windows drops it)"),
        ("...", "a part ending in a dot ('...'; Windows drops it)"),
        ("x ", "a part ending in a space ('x '; Windows drops it)"),
        ("a /b", "a part ending in a space ('a '; Windows drops it)"),
        ("CON", "a name reserved on Windows ('CON')"),
        ("CON.txt", "a name reserved on Windows ('CON.txt')"),
        ("con.tar.gz", "a name reserved on Windows ('con.tar.gz')"),
        ("CON .txt", "a name reserved on Windows ('CON .txt')"),
        ("a/aux", "a name reserved on Windows ('aux')"),
        ("a/Aux.py/b", "a name reserved on Windows ('Aux.py')"),
        ("nul", "a name reserved on Windows ('nul')"),
        ("PRN.log", "a name reserved on Windows ('PRN.log')"),
        ("COM1", "a name reserved on Windows ('COM1')"),
        ("com9.py", "a name reserved on Windows ('com9.py')"),
        ("LPT1.txt", "a name reserved on Windows ('LPT1.txt')"),
        ("lpt9", "a name reserved on Windows ('lpt9')"),
        ("COM¹", "a name reserved on Windows ('COM¹')"),
        ("CONIN$", "a name reserved on Windows ('CONIN$')"),
        ("a" * 256, "a part longer than 255 bytes"),
        ("é" * 128, "a part longer than 255 bytes"),  # 256 bytes in UTF-8
        ("/".join(["a" * 200] * 6), "a name longer than 1024 bytes"),
    ],
)
def test_a_name_that_could_escape_or_fail_somewhere_is_refused_with_the_reason(name: str, reason: str) -> None:
    assert check_member_name(name) == reason


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("A.txt", "a.txt"),
        ("README", "readme"),
        (f"caf{NFC_E}.txt", f"caf{NFD_E}.txt"),  # macOS writes names decomposed
        ("Ä", "ä"),
        ("Ä", unicodedata.normalize("NFD", "ä")),
        ("DIR/File.py", "dir/file.PY"),
    ],
)
def test_names_that_macos_or_windows_would_see_as_one_have_the_same_case_key(first: str, second: str) -> None:
    assert case_key(first) == case_key(second)


@pytest.mark.parametrize(("first", "second"), [("a.txt", "b.txt"), ("e", NFC_E), ("a/b", "a_b"), ("A", "Ä")])
def test_names_that_differ_on_every_file_system_have_different_case_keys(first: str, second: str) -> None:
    assert case_key(first) != case_key(second)


def test_parents_lists_the_folders_above_a_name_outermost_first() -> None:
    assert parents("a/b/c.txt") == ["a", "a/b"]
    assert parents("c.txt") == []


def test_a_name_added_twice_is_named_twice() -> None:
    names = MemberNames()
    assert names.add("a.txt") is None
    assert names.add("a.txt") == "named twice"


def test_a_name_that_differs_only_in_case_collides_with_the_first() -> None:
    names = MemberNames()
    names.add("A.txt")
    assert names.add("a.txt") == "collides with a file 'A.txt' where case and accents are ignored (macOS, Windows)"


def test_a_name_that_differs_only_in_unicode_normalisation_collides_with_the_first() -> None:
    names = MemberNames()
    names.add(f"{NFC_E}.txt")
    assert names.add(f"{NFD_E}.txt") == (
        f"collides with a file '{NFC_E}.txt' where case and accents are ignored (macOS, Windows)"
    )


def test_a_file_below_a_file_is_refused() -> None:
    names = MemberNames()
    names.add("a")
    assert names.add("a/b") == "'a' is a file, not a folder"


def test_a_file_named_as_a_folder_seen_before_is_refused() -> None:
    names = MemberNames()
    names.add("a/b")
    assert names.add("a") == "also a folder"
    assert names.add("A") == "also a folder ('a')"


def test_two_spellings_of_one_folder_collide() -> None:
    names = MemberNames()
    names.add("Data/x.csv")
    assert names.add("data/y.csv") == (
        "folder 'data' collides with 'Data' where case and accents are ignored (macOS, Windows)"
    )


def test_a_folder_member_for_a_folder_its_files_imply_is_accepted_once() -> None:
    names = MemberNames()
    names.add("a/b.txt")
    assert names.add("a", folder=True) is None
    assert names.add("a", folder=True) == "named twice"


def test_a_name_that_collides_is_not_recorded() -> None:
    names = MemberNames()
    names.add("a")
    names.add("a/b")  # refused: 'a' is a file
    assert names.add("A/b") == "'a' is a file, not a folder"
