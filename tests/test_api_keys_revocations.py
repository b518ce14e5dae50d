"""GET /api/v1/keys and GET /api/v1/revocations (issue 4 exposing issue 3)."""

from rest_framework.test import APIClient

from healthcard import cards, keys, revocations
from healthcard.models import CardStatus, KeyPurpose


def test_keys_are_public_with_etag_and_cache_headers(db):
    keys.active_key(KeyPurpose.CODE_SIGNING)
    response = APIClient().get("/api/v1/keys")
    assert response.status_code == 200
    body = response.json()
    assert body["keys"][0]["state"] == "active"
    assert "secret" not in str(body).lower()
    assert response["ETag"] == f'"{body["etag"]}"'
    assert "max-age" in response["Cache-Control"]


def test_if_none_match_gives_304_until_the_keys_change(db):
    keys.active_key(KeyPurpose.CODE_SIGNING)
    client = APIClient()
    etag = client.get("/api/v1/keys")["ETag"]
    not_modified = client.get("/api/v1/keys", HTTP_IF_NONE_MATCH=etag)
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert client.get("/api/v1/keys", HTTP_IF_NONE_MATCH=f'"other", W/{etag}').status_code == 304
    keys.rotate(KeyPurpose.CODE_SIGNING)
    changed = client.get("/api/v1/keys", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag
    assert len(changed.json()["keys"]) == 2


def test_revocations_need_a_token(db):
    response = APIClient().get("/api/v1/revocations")
    assert response.status_code == 401


def test_revocations_page_through_with_the_cursor(terminal, make_card):
    first, second = make_card(), make_card()
    cards.set_status(first, CardStatus.FROZEN, by=None, reason="lost")
    body = terminal.get("/api/v1/revocations").json()
    assert [e["kind"] for e in body["entries"]] == ["frozen"]
    assert body["more"] is False
    cursor = body["cursor"]
    assert terminal.get(f"/api/v1/revocations?since={cursor}").json()["entries"] == []
    cards.replace_card(second, by=None, reason="lost")
    later = terminal.get(f"/api/v1/revocations?since={cursor}").json()
    assert [(e["kind"], e["issue_seq"]) for e in later["entries"]] == [("superseded", 2)]


def test_revocations_limit_and_more(terminal, make_card):
    for _ in range(3):
        cards.set_status(make_card(), CardStatus.FROZEN, by=None, reason="lost")
    body = terminal.get("/api/v1/revocations?limit=2").json()
    assert len(body["entries"]) == 2
    assert body["more"] is True
    rest = terminal.get(f"/api/v1/revocations?since={body['cursor']}&limit=2").json()
    assert len(rest["entries"]) == 1 and rest["more"] is False


def test_bad_cursor_is_400(terminal):
    response = terminal.get("/api/v1/revocations?since=garbage")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_cursor"


def test_bad_limit_is_400(terminal):
    for limit in ["0", "x", "100000"]:
        response = terminal.get(f"/api/v1/revocations?limit={limit}")
        assert response.status_code == 400
        assert "limit" in response.json()["error"]["fields"]


def test_revocation_entries_hold_no_ehc_id(terminal, card):
    cards.set_status(card, CardStatus.FROZEN, by=None, reason="lost")
    entry = terminal.get("/api/v1/revocations").json()["entries"][0]
    assert card.ehc_id not in str(entry)
    assert entry["ref"] == revocations.card_ref(card.ehc_id)
