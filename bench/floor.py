"""The floor a verification is measured against (bench/bench_api.py): a minimal DRF
view doing only the essential work of POST /api/v1/codes/verify, with none of the
project's machinery: parse the code, one Ed25519 verification with pycryptodome, one
SELECT of the card, one INSERT of a usage event. No authentication, throttling,
serializer, audit or key state. Served next to the project's URLs by the same gunicorn,
at two addresses (below).
"""

import hashlib
import uuid

from Crypto.Signature import eddsa
from django.db import connection
from django.urls import path
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.views import APIView

from ehccode import parse
from healthcard.urls import urlpatterns as project_urls

_verifiers: dict[str, object] = {}


def _verifier(kid: str):
    verifier = _verifiers.get(kid)
    if verifier is None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT public_key FROM healthcard_key WHERE kid = %s", [kid])
            public = bytes(cursor.fetchone()[0])
        verifier = _verifiers[kid] = eddsa.new(eddsa.import_public_key(public), "rfc8032")
    return verifier


class FloorView(APIView):
    authentication_classes = []
    permission_classes = []
    throttle_classes = []

    def post(self, request):
        code = parse(request.data["code"])
        _verifier(code.kid).verify(code.signed_bytes, code.signature)
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, status FROM healthcard_card WHERE ehc_id = %s",
                [code.ehc_id],
            )
            card_id, status = cursor.fetchone()
            cursor.execute(
                "INSERT INTO healthcard_usageevent (uuid, terminal_id, institution_id,"
                " card_id, scanned_at, received_at, care_step, department, terminal_kind,"
                " fee_type, result, code_kind, offline, fingerprint) SELECT %s, t.id,"
                " t.institution_id, %s, %s, %s, %s, '', '01', '', 'ok', %s, false, %s"
                " FROM healthcard_terminal t ORDER BY t.id LIMIT 1",
                [
                    uuid.uuid4(),
                    card_id,
                    now,
                    now,
                    request.data.get("care_step", "010101"),
                    code.kind,
                    hashlib.sha256(code.text.encode()).hexdigest(),
                ],
            )
        return Response({"valid": True, "status": status})


# The same view twice: at /bench/floor with every middleware a page gets (as the issue
# measured it), and under /api/, where the browser middleware are skipped as for the
# terminal API (healthcard.middleware), so that the comparison can be made both ways.
urlpatterns = [
    path("bench/floor", FloorView.as_view()),
    path("api/v1/bench-floor", FloorView.as_view()),
    *project_urls,
]
