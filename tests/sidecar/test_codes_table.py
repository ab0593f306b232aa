"""PROTOCOL.md section 16 names, for every code, the vector files that exercise it.

Each code marked with files must appear as a code in each of them; a code without
files says why ("—" and a reason), so the table cannot promise a vector that is not
there. Codes are unique: one row per code, one meaning per code.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_ROW = re.compile(r"^\| `([a-z_]+)` \|[^|]*\|[^|]*\|[^|]*\|([^|]*)\|$", re.MULTILINE)


def _rows() -> list[tuple[str, str]]:
    text = (ROOT / "docs" / "PROTOCOL.md").read_text(encoding="utf-8")
    section = text.split("## 16. Codes", 1)[1]
    return [(code, files.strip()) for code, files in _ROW.findall(section)]


def _vector_text(name: str) -> str:
    vectors = ROOT / "tests" / "vectors"
    if name == "local_api":
        paths = sorted((vectors / "local_api").glob("*.json"))
        return "".join(path.read_text(encoding="utf-8") for path in paths)
    return (vectors / name).read_text(encoding="utf-8")


def test_every_code_has_one_row() -> None:
    codes = [code for code, _ in _rows()]
    assert len(codes) >= 100
    assert len(codes) == len(set(codes)), sorted(c for c in codes if codes.count(c) > 1)


def test_every_vector_file_named_holds_the_code() -> None:
    missing = []
    for code, files in _rows():
        if files.startswith("—"):
            assert len(files) > 3, f"{code}: say why it has no vector"
            continue
        folder = ""
        for part in files.split(","):
            name = part.strip().split(" ")[0]
            if name.startswith("local_api/"):
                folder = "local_api/"
            elif folder and "/" not in name and name != "local_api":
                name = folder + name
            if f'"{code}"' not in _vector_text(name):
                missing.append((code, name))
    assert not missing
