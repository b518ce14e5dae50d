"""JSON bodies: at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes, and always an object.

Django enforces the size limit only on request.body; DRF's parsers read the stream
directly, so the limit is applied here, before anything is parsed.
"""

from django.conf import settings
from rest_framework.parsers import JSONParser

from healthcard.api.errors import BodyTooLarge, NotAnObject


class ObjectJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = (parser_context or {}).get("request")
        if request is not None:
            try:
                declared = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                declared = 0
            if declared > limit:
                raise BodyTooLarge()
        data = super().parse(_Limited(stream, limit), media_type, parser_context)
        if not isinstance(data, dict):
            raise NotAnObject()
        return data


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
