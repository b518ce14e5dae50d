"""JSON bodies: at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes, at most MAX_DEPTH levels of
nesting, text that is valid Unicode, and always an object.

Django enforces the size limit only on request.body; DRF's parsers read the stream
directly, so the limit is applied here, before anything is parsed. Nesting is counted
before parsing too: Python's json module recurses once per level and raises
RecursionError (a 500) long before the size limit. JSON escapes can spell a lone
surrogate ("\\ud800"), which no UTF-8 response can carry: a message that echoed it
crashed the renderer, so such text is refused here and never repeated.
"""

import re
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding
from rest_framework.utils import json

from healthcard.api.errors import BodyTooLarge, NotAnObject

# Our bodies nest four levels at most ({"events": [{"...": ...}]}); 32 leaves room.
MAX_DEPTH = 32

# A JSON string (skipped whole, so brackets inside it do not count) or a bracket.
# Bytes: every byte of a UTF-8 multi-byte character is >= 0x80, never a quote or bracket.
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[{\]}]')
_OPENING = frozenset(b"[{")
# Lone surrogates; a proper pair (\ud842\udfb7) decodes to one astral character.
# (NUL is refused field by field: DRF's CharField prohibits it.)
_BAD_TEXT = re.compile("[\ud800-\udfff]")


class TooDeep(ParseError):
    default_code = "too_deep"
    default_detail = gettext_lazy("The JSON body is nested deeper than %(n)d levels.")

    def __init__(self):
        super().__init__(self.default_detail % {"n": MAX_DEPTH})


class InvalidText(ParseError):
    default_code = "invalid_text"
    default_detail = gettext_lazy(
        "The JSON body contains text that is not valid Unicode (a lone surrogate)."
    )


class ObjectJSONParser(JSONParser):
    """DRF's JSONParser (the charset of the Content-Type, strict about NaN and
    Infinity, the same ParseError) on a body read whole, within the size limit and
    its nesting counted first; then refused unless an object, and refused if any
    string holds a lone surrogate."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = parser_context.get("request")
        if request is not None:
            try:
                declared = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                declared = 0
            if declared > limit:
                raise BodyTooLarge()
        raw = _Limited(stream, limit).read()
        encoding = get_encoding(parser_context)
        # Nesting needs at least as many brackets as levels: most bodies have a few.
        if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH:
            check_depth(raw)
        try:
            text = raw.decode(encoding)
            data = json.loads(text, parse_constant=json.strict_constant if self.strict else None)
        except ValueError as exc:  # UnicodeDecodeError included, as DRF's reader raises it
            raise ParseError(f"JSON parse error - {exc}") from None
        if not isinstance(data, dict):
            raise NotAnObject()
        # A string can hold a lone surrogate only through a \u escape or, in a charset
        # that can spell one (UTF-7), in the text itself.
        if "\\u" in text or _BAD_TEXT.search(text):
            check_text(data)
        return data


def check_depth(raw: bytes) -> None:
    """Refuse more than MAX_DEPTH nested arrays/objects, without parsing."""
    depth = 0
    for match in _TOKENS.finditer(raw):
        token = match.group()
        if len(token) != 1:
            continue  # a string
        if token[0] in _OPENING:
            depth += 1
            if depth > MAX_DEPTH:
                raise TooDeep()
        else:
            depth -= 1


def check_text(value: Any) -> None:
    """Refuse lone surrogates in any string, keys included."""
    if isinstance(value, str):
        if _BAD_TEXT.search(value):
            raise InvalidText()
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key)
            check_text(item)
    elif isinstance(value, list):
        for item in value:
            check_text(item)


class _Limited:
    """A stream that refuses to yield more than `limit` bytes (chunked uploads carry
    no Content-Length to check up front)."""

    def __init__(self, stream, limit: int):
        self.stream, self.limit, self.seen = stream, limit, 0

    def read(self, size: int = -1) -> bytes:
        want = self.limit + 1 - self.seen if size is None or size < 0 else size
        chunk = self.stream.read(min(want, self.limit + 1 - self.seen))
        self.seen += len(chunk)
        if self.seen > self.limit:
            raise BodyTooLarge()
        return chunk
