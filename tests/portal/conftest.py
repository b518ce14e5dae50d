"""Portal fixtures: a signed-in resident client, the population register, the outbox."""

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.test import Client

from healthcard import realname
from healthcard.models import OutboxMessage, Person
from tests.conftest import make_id_number

PHONE = "13912345678"


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    """Re-checks are queued after the commit; the tests call the task body directly."""
    queued = []
    monkeypatch.setattr(
        "portal.tasks.recheck_application.apply_async",
        lambda args, **kw: queued.append((args, kw)),
    )
    return queued


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache

    cache.clear()


def last_code(phone: str = PHONE) -> str:
    message = OutboxMessage.objects.filter(phone_index=Person.phone_index_for(phone)).first()
    assert message is not None, "no SMS was sent to this number"
    return re.search(r"\b(\d{6})\b", message.body).group(1)


def sign_in(client: Client, phone: str = PHONE) -> None:
    response = client.post("/signin/", {"phone": phone})
    assert response.status_code == 302, response.content
    response = client.post("/signin/code/", {"code": last_code(phone)})
    assert response.status_code == 302, response.content


@pytest.fixture
def online_authority(province):
    return province


@pytest.fixture
def resident_client(db, province):
    client = Client()
    sign_in(client)
    return client


@pytest.fixture
def registered():
    """Add people to the population register: registered(name, number, id_type)."""

    def add(name="王建国", id_number=None, id_type="01"):
        number = id_number or make_id_number()
        realname.add_to_register(name, id_type, number)
        return number

    return add


class FakeService:
    """A local HTTP server standing in for a provincial JSON service: answers with
    `answers` in turn (status, body), then with `default`; records what it was sent."""

    def __init__(self):
        self.answers: list[tuple[int, bytes]] = []
        self.default: tuple[int, bytes] = (200, b"{}")
        self.delay = 0.0
        self.seen: list[tuple[dict, str | None]] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                service.seen.append((body, self.headers.get("Authorization")))
                status, payload = service.answers.pop(0) if service.answers else service.default
                time.sleep(service.delay)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def fake_service():
    service = FakeService()
    yield service
    service.server.shutdown()
    service.server.server_close()
