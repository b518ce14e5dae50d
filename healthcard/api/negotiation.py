"""Content negotiation for an API that renders JSON only.

DRF's DefaultContentNegotiation parses the Accept header into media types and matches
each against each renderer on every request: about 4 % of a verification's CPU here
(docs/performance.md). Nearly every terminal sends no Accept header, `*/*` or
`application/json`, for which the answer is always the first renderer with its own
media type; those are answered at once, without parsing, and everything else is
negotiated by DRF exactly as before (406 included). Nothing about the client's header
is remembered between requests.
"""

from rest_framework.negotiation import DefaultContentNegotiation


class FirstRendererNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        if renderers and not format_suffix:
            first = renderers[0]
            accept = request.META.get("HTTP_ACCEPT")
            # DRF's answer for these headers, whatever the renderers, as long as no
            # ?format= narrows them (tests/test_api_negotiation.py).
            plain = accept is None or accept == "*/*" or accept == first.media_type
            if plain and self.settings.URL_FORMAT_OVERRIDE not in request.query_params:
                return first, first.media_type
        return super().select_renderer(request, renderers, format_suffix)
