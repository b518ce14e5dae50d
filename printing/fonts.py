"""Finding CJK TrueType fonts and choosing one per character.

Slips are drawn with a chain of fonts: the first one that has a glyph for a character
draws it. The default chain puts a good-looking Simplified Chinese font first and the
Hanazono fonts (Debian fonts-hanazono) last, because they cover CJK Extension B
(𠮷, 𡒄 ...) that many names use and the common fonts lack.

reportlab embeds only TrueType-outline fonts (not the CFF outlines of Noto CJK), so the
PDF chain skips fonts it cannot embed; the raster chain (Pillow/FreeType) takes both.

HEALTHCARD_CJK_FONT (settings) puts fonts of your choice first: comma-separated paths,
each optionally with `#index` for a font collection (.ttc), e.g.
`/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc#2`.
"""

import functools
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# Known Debian locations, best-looking first. Index 2 of Noto Sans CJK is the SC face.
KNOWN_FONTS = [
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/hanazono/HanaMinA.ttf", 0),
    ("/usr/share/fonts/truetype/hanazono/HanaMinB.ttf", 0),
]


class FontError(Exception):
    """No usable CJK font: install fonts-noto-cjk / fonts-wqy-zenhei / fonts-hanazono or
    set HEALTHCARD_CJK_FONT."""


@dataclass(frozen=True)
class FontFace:
    path: str
    index: int
    truetype_outlines: bool  # glyf table: reportlab can embed it
    codepoints: frozenset[int] = field(repr=False, compare=False)

    def covers(self, char: str) -> bool:
        return ord(char) in self.codepoints

    @property
    def label(self) -> str:
        return f"{Path(self.path).name}#{self.index}"


def _parse_spec(spec: str) -> tuple[str, int]:
    path, _, index = spec.strip().partition("#")
    return path, int(index) if index else 0


def _table_directory(data: bytes, index: int) -> dict[bytes, tuple[int, int]]:
    offset = 0
    if data[:4] == b"ttcf":
        count = struct.unpack_from(">I", data, 8)[0]
        if index >= count:
            raise FontError(f"font collection has {count} faces, not {index + 1}")
        offset = struct.unpack_from(">I", data, 12 + 4 * index)[0]
    num_tables = struct.unpack_from(">H", data, offset + 4)[0]
    tables = {}
    for i in range(num_tables):
        tag, _checksum, toff, length = struct.unpack_from(">4sIII", data, offset + 12 + 16 * i)
        tables[tag] = (toff, length)
    return tables


def _cmap_codepoints(data: bytes, cmap_offset: int) -> set[int]:
    """Characters mapped by the best Unicode subtable (format 12, else format 4)."""
    count = struct.unpack_from(">H", data, cmap_offset + 2)[0]
    subtables = {}
    for i in range(count):
        platform, encoding, off = struct.unpack_from(">HHI", data, cmap_offset + 4 + 8 * i)
        fmt = struct.unpack_from(">H", data, cmap_offset + off)[0]
        subtables[(platform, encoding, fmt)] = cmap_offset + off
    points: set[int] = set()
    for key in [(3, 10, 12), (0, 4, 12), (0, 6, 12)]:
        if key in subtables:
            base = subtables[key]
            groups = struct.unpack_from(">I", data, base + 12)[0]
            for g in range(groups):
                start, end, glyph = struct.unpack_from(">III", data, base + 16 + 12 * g)
                if glyph or start != end:
                    points.update(range(start, end + 1))
            return points
    for key in [(3, 1, 4), (0, 3, 4), (0, 1, 4)]:
        if key in subtables:
            base = subtables[key]
            segx2 = struct.unpack_from(">H", data, base + 6)[0]
            ends = base + 14
            starts = ends + segx2 + 2
            for s in range(segx2 // 2):
                end = struct.unpack_from(">H", data, ends + 2 * s)[0]
                start = struct.unpack_from(">H", data, starts + 2 * s)[0]
                if start != 0xFFFF:
                    points.update(range(start, end + 1))
            return points
    return points


@functools.cache
def load_face(path: str, index: int = 0) -> FontFace:
    """Read a font's character map (cached per process)."""
    try:
        data = Path(path).read_bytes()
        tables = _table_directory(data, index)
        cmap_offset, _length = tables[b"cmap"]
        return FontFace(
            path=path,
            index=index,
            truetype_outlines=b"glyf" in tables,
            codepoints=frozenset(_cmap_codepoints(data, cmap_offset)),
        )
    except (OSError, KeyError, struct.error) as exc:
        raise FontError(f"cannot read font {path}#{index}: {exc}") from exc


def _fc_match_candidates() -> list[tuple[str, int]]:
    found = []
    for pattern in ["sans-serif:lang=zh-cn", ":charset=21484"]:
        try:
            out = subprocess.run(  # noqa: S603 - fixed arguments, no shell
                ["fc-match", "--format=%{file}#%{index}\\n", pattern],  # noqa: S607
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        for line in out.splitlines():
            if line.strip():
                found.append(_parse_spec(line))
    return found


def _configured_specs() -> list[str]:
    """HEALTHCARD_CJK_FONT where Django settings are in use; a process without settings
    (a site tool, the renderers' own check) gets the default chain."""
    try:
        return list(getattr(settings, "HEALTHCARD_CJK_FONT", []))
    except ImproperlyConfigured:
        return []


@functools.cache
def font_chain(*, for_pdf: bool = False) -> tuple[FontFace, ...]:
    """The fonts to draw slips with, first choice first. Raises FontError if none."""
    configured = [_parse_spec(s) for s in _configured_specs() if s]
    seen, chain = set(), []
    for path, index in [*configured, *KNOWN_FONTS, *_fc_match_candidates()]:
        if (path, index) in seen or not Path(path).is_file():
            continue
        seen.add((path, index))
        try:
            face = load_face(path, index)
        except FontError:
            continue
        if for_pdf and not face.truetype_outlines:
            continue
        if not (face.covers("健") or any(cp >= 0x20000 for cp in face.codepoints)):
            continue  # neither a CJK font nor a CJK extension font
        chain.append(face)
    if not chain:
        raise FontError(
            "No CJK TrueType font found: install fonts-noto-cjk, fonts-wqy-zenhei and "
            "fonts-hanazono, or set HEALTHCARD_CJK_FONT."
        )
    return tuple(chain)


def face_for(char: str, chain: tuple[FontFace, ...]) -> FontFace:
    """The first font of the chain with a glyph for `char` (the first font if none has)."""
    for face in chain:
        if face.covers(char):
            return face
    return chain[0]


def runs(text: str, chain: tuple[FontFace, ...]) -> list[tuple[FontFace, str]]:
    """Split text into runs that one font draws, for per-character fallback."""
    result: list[tuple[FontFace, str]] = []
    for char in text:
        face = chain[0] if char.isspace() else face_for(char, chain)
        if result and result[-1][0] == face:
            result[-1] = (face, result[-1][1] + char)
        else:
            result.append((face, char))
    return result


def missing_glyphs(text: str, chain: tuple[FontFace, ...]) -> set[str]:
    """Characters no font of the chain can draw (they would print as boxes)."""
    return {c for c in text if not c.isspace() and not any(f.covers(c) for f in chain)}
