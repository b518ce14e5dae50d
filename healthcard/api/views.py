"""API endpoints: authenticate, check scope and input, call one domain function,
shape the answer. See docs/api.md."""

import hashlib
import json
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers as drf_serializers
from rest_framework import status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from healthcard import cards, codes, links, revocations, usage
from healthcard.api import serializers as s
from healthcard.api.acceptor import acceptor
from healthcard.api.authentication import TerminalAuthentication
from healthcard.api.errors import (
    ApiError,
    django_validation_fields,
    domain_api_error,
    error_body,
    exception_handler,
)
from healthcard.api.negotiation import FirstRendererNegotiation
from healthcard.api.parsers import ObjectJSONParser
from healthcard.api.permissions import HasScope
from healthcard.api.throttling import IPRateThrottle, TerminalRateThrottle, refusals
from healthcard.clientip import client_ip
from healthcard.errors import DomainError
from healthcard.models import Card, Channel, LinkKind, Scope, Terminal
from healthcard.people import Identity


def _errors(*codes_: int) -> dict[int, OpenApiResponse]:
    descriptions = {
        400: _("Invalid input (code 'invalid', 'malformed_json', 'not_an_object' ...)."),
        401: _("Missing, unknown or disabled token."),
        403: _("Missing scope, or acting for another institution."),
        404: _("No such card or link."),
        409: _("Conflict."),
        413: _("Body over 1 MB, or a batch over its limit."),
        415: _("Content type is not application/json."),
        422: _("The code did not verify: the error code is the reason."),
        429: _("Too many requests (see Retry-After)."),
    }
    return {c: OpenApiResponse(s.ErrorSerializer, description=descriptions[c]) for c in codes_}


AUTH_ERRORS = (401, 403, 429)
BODY_ERRORS = (400, 413, 415)


class ApiView(APIView):
    """Base of every endpoint: terminal token, scope, throttles, JSON only, one error
    shape."""

    authentication_classes = [TerminalAuthentication]
    permission_classes = [HasScope]
    throttle_classes = [IPRateThrottle, TerminalRateThrottle]
    parser_classes = [ObjectJSONParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = FirstRendererNegotiation
    required_scope: str | None = None

    def get_exception_handler(self):
        return exception_handler

    def check_throttles(self, request):
        # As DRF's, with the counts of all throttles taken together (one round trip
        # to Redis for both, healthcard.api.throttling.refusals).
        waits = refusals(self.get_throttles(), request, self)
        if waits:
            self.throttled(request, max(waits))

    @property
    def terminal(self) -> Terminal:
        return self.request.auth

    def client_ip(self) -> str | None:
        return client_ip(self.request)

    def validated(self, serializer_class, data: Any = None) -> dict:
        """The serializer's validated data; a plainly valid body skips building the
        serializer (healthcard.api.acceptor), anything else gets its field errors."""
        data = self.request.data if data is None else data
        accept = acceptor(serializer_class)
        validated = accept(data) if accept is not None else None
        if validated is None:
            serializer = serializer_class(data=data)
            serializer.is_valid(raise_exception=True)
            validated = serializer.validated_data
        self.check_institution(validated.get("institution"))
        return validated

    def check_institution(self, code: str | None) -> None:
        """A terminal acts only for its own institution."""
        if code and code != self.terminal.institution.code:
            raise ApiError(
                403,
                "institution_mismatch",
                _("This terminal belongs to another institution."),
            )


class PublicView(ApiView):
    authentication_classes = []
    permission_classes = []
    throttle_classes = [IPRateThrottle]


# --- Health and keys ----------------------------------------------------------------
class HealthView(PublicView):
    """Liveness for load balancers; touches neither the database nor the cache."""

    throttle_classes = []

    @extend_schema(responses={200: s.HealthSerializer}, tags=["public"], auth=[])
    def get(self, request):
        return Response({"status": "ok"})


class KeysView(PublicView):
    """The published code-signing public keys, for terminals that verify codes
    offline. No authentication; send If-None-Match with the last ETag to get 304."""

    @extend_schema(
        summary="Public keys for verifying codes offline",
        responses={
            200: s.KeySetSerializer,
            304: OpenApiResponse(description=_("Not modified (If-None-Match).")),
            **_errors(429),
        },
        parameters=[OpenApiParameter("If-None-Match", OpenApiTypes.STR, OpenApiParameter.HEADER)],
        tags=["public"],
        auth=[],
    )
    def get(self, request):
        key_set = codes.public_key_set()
        digest = (
            key_set.get("etag")
            or hashlib.sha256(json.dumps(key_set, sort_keys=True).encode()).hexdigest()[:32]
        )
        etag = f'"{digest}"'
        headers = {"ETag": etag, "Cache-Control": "public, max-age=300"}
        wanted = {t.strip() for t in request.META.get("HTTP_IF_NONE_MATCH", "").split(",")}
        if etag in wanted or f"W/{etag}" in wanted:
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
        return Response(key_set, headers=headers)


class RevocationsView(ApiView):
    """Revoked and superseded cards since a cursor (scope `verify`), for offline
    terminals: keep the returned cursor and pass it as `since` next time."""

    required_scope = Scope.VERIFY

    @extend_schema(
        summary="Revocation list, incrementally",
        parameters=[
            OpenApiParameter("since", OpenApiTypes.STR, description=_("Cursor of the last sync.")),
            OpenApiParameter("limit", OpenApiTypes.INT, description=_("1 to 1000 entries.")),
        ],
        responses={200: s.RevocationsSerializer, **_errors(400, *AUTH_ERRORS)},
        tags=["codes"],
    )
    def get(self, request):
        params = _RevocationParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        page = revocations.revocations_since(
            params.validated_data.get("since") or None, limit=params.validated_data["limit"]
        )
        return Response(page)


class _RevocationParams(drf_serializers.Serializer):
    since = drf_serializers.CharField(required=False, allow_blank=True, max_length=200)
    limit = drf_serializers.IntegerField(required=False, min_value=1, max_value=1000, default=1000)


# --- Verification -------------------------------------------------------------------
def holder_data(card: Card, identity: Identity | None) -> dict[str, Any]:
    """The holder in full when healthcard.people revealed them, else masked."""
    person = card.person
    if identity is not None:
        name, id_number, phone = identity.name, identity.id_number, identity.phone
    else:
        name, id_number, phone = person.masked_name, person.masked_id_number, person.masked_phone
    return {
        "revealed": identity is not None,
        "name": name,
        "sex": person.sex,
        "birth_date": person.birth_date.isoformat(),
        "id_type": person.id_type,
        "id_number": id_number,
        "phone": phone,
    }


class VerifyView(ApiView):
    """Verify a scanned code (scope `verify`) and record the scan. On success: the
    card, its holder (full with scope `reveal_identity`, which is audited, else
    masked) and the numbers linked for the calling institution. A refused code is
    422 with the reason as error code, and is recorded as a failed attempt."""

    required_scope = Scope.VERIFY

    @extend_schema(
        summary="Verify a scanned code and record the scan",
        request=s.VerifyRequestSerializer,
        responses={200: s.VerifyResponseSerializer, **_errors(*BODY_ERRORS, 422, *AUTH_ERRORS)},
        tags=["codes"],
    )
    def post(self, request):
        data = self.validated(s.VerifyRequestSerializer)
        terminal = self.terminal
        scan = usage.Scan(
            code=data["code"],
            care_step=data["care_step"],
            terminal_kind=data.get("terminal_kind") or terminal.kind,
            department=data.get("department", ""),
            fee_type=data.get("fee_type", ""),
        )
        result = usage.verify_scan(terminal, scan, ip=self.client_ip())
        verification = result.verification
        if not verification.ok:
            return Response(
                {
                    **error_body(verification.reason or "invalid", verification.message),
                    "usage_event": str(result.event.uuid),
                },
                status=422,
            )
        card = result.card
        return Response(
            {
                "card": {
                    "ehc_id": card.ehc_id,
                    "status": card.status,
                    "issue_seq": card.issue_seq,
                    "code_kind": verification.kind,
                },
                "holder": holder_data(card, result.identity),
                "links": result.links,
                "usage_event": str(result.event.uuid),
            }
        )


# --- Usage events -------------------------------------------------------------------
class UsageEventsView(ApiView):
    """Upload up to 500 scans made offline (scope `report`). Each is verified as of
    its scan time; idempotent by UUID per terminal; one result per item (201 created,
    200 duplicate, 409 same UUID with other content, 400 invalid)."""

    required_scope = Scope.REPORT

    @extend_schema(
        summary="Upload scans made offline (up to 500)",
        request=s.UsageBatchSerializer,
        responses={200: s.UsageBatchResponseSerializer, **_errors(*BODY_ERRORS, *AUTH_ERRORS)},
        tags=["usage"],
    )
    def post(self, request):
        items = _batch_items(request.data, "events", usage.MAX_BATCH)
        self.check_institution(_institution_field(request.data))
        terminal = self.terminal
        batch = usage.report_scans(terminal, [_scan_item(raw, terminal) for raw in items])
        return Response(
            {"summary": batch.summary, "results": [_usage_result(r) for r in batch.results]}
        )


def _scan_item(raw: Any, terminal: Terminal) -> usage.Scan | usage.Invalid:
    item = s.UsageEventSerializer(data=raw) if isinstance(raw, dict) else None
    if item is None or not item.is_valid():
        uuid = raw.get("uuid") if isinstance(raw, dict) else None
        fields = item.errors if item is not None else {"non_field_errors": ["not an object"]}
        return usage.Invalid(_plain(fields), uuid if isinstance(uuid, str) else None)
    data = item.validated_data
    return usage.Scan(
        uuid=data["uuid"],
        code=data["code"],
        scanned_at=data["scanned_at"],
        care_step=data["care_step"],
        terminal_kind=data.get("terminal_kind") or terminal.kind,
        department=data.get("department", ""),
        fee_type=data.get("fee_type", ""),
    )


def _institution_field(data: dict) -> str | None:
    value = data.get("institution")
    if value is None:
        return None
    if not isinstance(value, str):
        raise drf_serializers.ValidationError({"institution": [_("Not a valid string.")]})
    return value


def _batch_items(data: dict, key: str, limit: int) -> list:
    items = data.get(key)
    if not isinstance(items, list):
        raise drf_serializers.ValidationError({key: [_("Send a list.")]})
    if len(items) > limit:
        raise ApiError(
            413,
            "batch_too_large",
            _("At most %(n)d items per batch.") % {"n": limit},
            limit=limit,
        )
    return items


def _plain(fields: Any) -> dict[str, list[str]]:
    return {key: [str(m) for m in (v if isinstance(v, list) else [v])] for key, v in fields.items()}


_USAGE_STATUS = {"created": 201, "duplicate": 200, "conflict": 409, "invalid": 400}


def _usage_result(item: usage.ItemResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "index": item.index,
        "uuid": item.uuid,
        "status": item.status,
        "http_status": _USAGE_STATUS[item.status],
        "result": item.result,
    }
    if item.status == "invalid":
        out["error"] = error_body(
            "invalid", _("Some fields are missing or invalid."), fields=item.errors
        )["error"]
    elif item.status == "conflict":
        out["error"] = error_body(
            "uuid_conflict",
            _("This UUID was already uploaded with different content."),
        )["error"]
    return out


# --- Registration -------------------------------------------------------------------
def card_data(card: Card) -> dict[str, Any]:
    try:
        qr = codes.static_code(card)
    except cards.CardError:
        qr = None  # not active: nothing to print
    person = card.person
    return {
        "ehc_id": card.ehc_id,
        "status": card.status,
        "issue_seq": card.issue_seq,
        "channel": card.channel,
        "issued_at": card.issued_at.isoformat(),
        "qr_code": qr,
        "holder": {
            "name": person.masked_name,
            "id_type": person.id_type,
            "id_number": person.masked_id_number,
        },
    }


def _person_data(data: dict) -> cards.PersonData:
    return cards.PersonData(
        name=data["name"],
        id_type=data["id_type"],
        id_number=data["id_number"],
        sex=data.get("sex") or None,
        birth_date=data.get("birth_date"),
        nation=data.get("nation", ""),
        phone=data.get("phone", ""),
        address=data.get("address", ""),
    )


class CardsView(ApiView):
    """Register a person and issue their card (scope `register`, channel 2). A known
    identity returns its existing card with 200 when the name matches the one on file
    (audited as card.lookup), else 409 identity_mismatch with no card data
    (cards.register_and_issue). `qr_code` is the static code text for printing."""

    required_scope = Scope.REGISTER

    @extend_schema(
        summary="Register a person and issue their card (channel 2)",
        request=s.RegisterRequestSerializer,
        responses={
            201: s.RegisterResponseSerializer,
            200: s.RegisterResponseSerializer,
            **_errors(*BODY_ERRORS, 409, *AUTH_ERRORS),
        },
        tags=["cards"],
    )
    def post(self, request):
        data = self.validated(s.RegisterRequestSerializer)
        card, created = cards.register_and_issue(
            _person_data(data),
            channel=Channel.INSTITUTION,
            institution=self.terminal.institution,
            by=self.terminal,
            ip=self.client_ip(),
        )
        return Response(
            {"created": created, "card": card_data(card)},
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class CardsBatchView(ApiView):
    """Register up to 1,000 people (scope `register`, channel 4), each on its own:
    a bad row never blocks the others; one result per item."""

    required_scope = Scope.REGISTER

    @extend_schema(
        summary="Register up to 1,000 people (channel 4)",
        request=s.RegisterBatchSerializer,
        responses={
            200: s.RegisterBatchResponseSerializer,
            **_errors(*BODY_ERRORS, *AUTH_ERRORS),
        },
        tags=["cards"],
    )
    def post(self, request):
        items = _batch_items(request.data, "people", s.MAX_CARDS_BATCH)
        self.check_institution(_institution_field(request.data))
        results = [self._one(index, raw) for index, raw in enumerate(items)]
        summary: dict[str, int] = {"created": 0, "existing": 0, "invalid": 0, "refused": 0}
        for item in results:
            summary[item["status"]] += 1
        return Response({"summary": summary, "results": results})

    def _one(self, index: int, raw: Any) -> dict[str, Any]:
        ref = raw.get("ref") if isinstance(raw, dict) else None
        out: dict[str, Any] = {"index": index, "ref": ref if isinstance(ref, str) else None}
        item = s.BatchPersonSerializer(data=raw) if isinstance(raw, dict) else None
        if item is None or not item.is_valid():
            fields = item.errors if item is not None else {"non_field_errors": ["not an object"]}
            return {**out, **_item_error(400, "invalid", fields=_plain(fields))}
        try:
            card, created = cards.register_and_issue(
                _person_data(item.validated_data),
                channel=Channel.BATCH,
                institution=self.terminal.institution,
                by=self.terminal,
                ip=self.client_ip(),
            )
        except DjangoValidationError as exc:
            return {**out, **_item_error(400, "invalid", fields=django_validation_fields(exc))}
        except DomainError as exc:
            refusal = domain_api_error(exc)
            return {
                **out,
                **_item_error(
                    refusal.status_code,
                    refusal.code,
                    message=refusal.message,
                    status_="refused",
                    **refusal.extra,
                ),
            }
        return {
            **out,
            "status": "created" if created else "existing",
            "http_status": 201 if created else 200,
            "card": card_data(card),
        }


def _item_error(
    http_status: int, code: str, *, message: str | None = None, status_: str = "invalid", **extra
) -> dict[str, Any]:
    message = message or _("Some fields are missing or invalid.")
    return {
        "status": status_,
        "http_status": http_status,
        "error": error_body(code, message, **extra)["error"],
    }


# --- Links --------------------------------------------------------------------------
class CardLinkView(ApiView):
    """Link (PUT) or unlink (DELETE) a number to a card (scope `link`). A local
    patient number belongs to the calling institution and only it ever sees it."""

    required_scope = Scope.LINK

    def _card(self, ehc_id: str) -> Card:
        card = Card.objects.filter(ehc_id=ehc_id.upper()).first() if len(ehc_id) == 64 else None
        if card is None:
            raise ApiError(404, "card_not_found", _("No card has this EHC ID."))
        return card

    def _kind(self, kind: str) -> str:
        if kind not in LinkKind.values:
            raise ApiError(
                404,
                "unknown_link_kind",
                _("Unknown kind of linked number; use one of: %(kinds)s.")
                % {"kinds": ", ".join(LinkKind.values)},
            )
        return kind

    @extend_schema(
        summary="Link or replace a number",
        request=s.LinkRequestSerializer,
        responses={
            200: s.LinkResponseSerializer,
            201: s.LinkResponseSerializer,
            **_errors(*BODY_ERRORS, 404, 409, *AUTH_ERRORS),
        },
        tags=["cards"],
    )
    def put(self, request, ehc_id: str, kind: str):
        kind = self._kind(kind)
        card = self._card(ehc_id)
        data = self.validated(s.LinkRequestSerializer)
        link, created = links.link(
            card,
            kind,
            data["number"],
            institution=self.terminal.institution,
            by=self.terminal,
            ip=self.client_ip(),
        )
        return Response(
            {
                "kind": kind,
                "number": link.number,
                "institution": link.institution.code if link.institution_id else None,
                "created": created,
            },
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        summary="Remove a linked number",
        responses={204: None, **_errors(404, *AUTH_ERRORS)},
        tags=["cards"],
    )
    def delete(self, request, ehc_id: str, kind: str):
        kind = self._kind(kind)
        card = self._card(ehc_id)
        removed = links.unlink(
            card, kind, institution=self.terminal.institution, by=self.terminal, ip=self.client_ip()
        )
        if not removed:
            raise ApiError(404, "link_not_found", _("The card has no such linked number."))
        return Response(status=status.HTTP_204_NO_CONTENT)


def not_found(request, *args, **kwargs):
    """JSON 404 for any other path under /api/ (Django's own 404 page is HTML)."""
    from django.http import JsonResponse

    return JsonResponse(
        error_body("not_found", _("There is no API endpoint at this address.")), status=404
    )
