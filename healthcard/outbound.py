"""The one way the platform calls a provincial service (SMS gateway, population
service): a JSON POST with a bearer token and a timeout."""

import json
import urllib.request
from typing import Any


def post_json(url: str, token: str, payload: dict, *, timeout: float) -> Any:
    """POST `payload` as UTF-8 JSON and return the decoded JSON answer (an empty body is
    {}). Raises urllib.error.HTTPError for an error status, OSError for connection
    problems and timeouts, ValueError for an answer that is not JSON."""
    request = urllib.request.Request(  # noqa: S310 - the URL is an operator setting
        url,
        data=json.dumps(payload, ensure_ascii=False).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "Authorization": f"Bearer {token}",
        },
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return json.loads(response.read() or b"{}")
