"""The shared cast: institutions, staff of every role, a resident with a card, and an
outsider from another institution, so a permission test is one line."""

import datetime
import os
import random
import socket

import pytest
from django.contrib.auth import get_user_model
from django_otp.plugins.otp_totp.models import TOTPDevice

from healthcard import cards, people
from healthcard.models import Channel, Institution, Level, Role
from healthcard.roles import assign_role

PASSWORD = "correct-horse-battery-staple"


def require_services() -> bool:
    return os.environ.get("HEALTHCARD_REQUIRE_SERVICES") == "1"


def service_unavailable(reason: str) -> None:
    """Skip when a server the test needs is absent, or fail when CI requires it."""
    if require_services():
        pytest.fail(f"HEALTHCARD_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def id_check_char(first17: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(d) * w for d, w in zip(first17, weights, strict=True))
    return "10X98765432"[total % 11]


def make_id_number(
    region: str = "430102",
    birth: datetime.date = datetime.date(1990, 5, 17),
    seq: int | None = None,
) -> str:
    """A valid 居民身份证 number; odd `seq` is male, even female."""
    seq = random.randrange(1, 999) if seq is None else seq
    first17 = f"{region}{birth:%Y%m%d}{seq:03d}"
    return first17 + id_check_char(first17)


@pytest.fixture
def province(db):
    return Institution.objects.create(
        code="430000000000", name="湖南省卫生健康委员会", level=Level.AUTHORITY, city_code="430000"
    )


@pytest.fixture
def hospital(province):
    return Institution.objects.create(
        code="430100000001",
        name="湘雅医院",
        level=Level.TERTIARY,
        city_code="430100",
        county_code="430105",
        parent=province,
    )


@pytest.fixture
def other_hospital(province):
    return Institution.objects.create(
        code="430300000001",
        name="湘潭市中心医院",
        level=Level.TERTIARY,
        city_code="430300",
        county_code="430302",
        parent=province,
    )


def _staff(username: str, institution, role: str):
    user = get_user_model().objects.create_user(username, password=PASSWORD)
    assign_role(user, institution, role)
    return user


@pytest.fixture
def clerk(hospital):
    return _staff("clerk", hospital, Role.CLERK)


@pytest.fixture
def supervisor(hospital):
    return _staff("supervisor", hospital, Role.SUPERVISOR)


@pytest.fixture
def institution_admin(hospital):
    return _staff("instadmin", hospital, Role.INSTITUTION_ADMIN)


@pytest.fixture
def province_admin(province):
    return _staff("provadmin", province, Role.PROVINCE_ADMIN)


@pytest.fixture
def outsider(other_hospital):
    """A supervisor of another institution."""
    return _staff("outsider", other_hospital, Role.SUPERVISOR)


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", password=PASSWORD)


@pytest.fixture
def make_card(hospital):
    """Register a person and issue their card at `hospital` (or the given institution)."""

    def make(name="张小三", id_number=None, institution=None, channel=Channel.COUNTER, **extra):
        data = cards.PersonData(
            name=name,
            id_type=extra.pop("id_type", "01"),
            id_number=id_number or make_id_number(),
            **extra,
        )
        person = people.register_person(data)
        return cards.issue_card(person, channel=channel, institution=institution or hospital)

    return make


@pytest.fixture
def card(make_card):
    return make_card(phone="13800138000")


@pytest.fixture
def resident(card):
    """A resident account owning `card`."""
    user = get_user_model().objects.create_user("resident", password=PASSWORD)
    card.person.user = user
    card.person.save(update_fields=["user"])
    return user


@pytest.fixture
def otp_login():
    """Log `user` into `client` with a verified TOTP second factor."""

    def login(client, user):
        device = TOTPDevice.objects.create(user=user, name="default", confirmed=True)
        client.force_login(user)
        session = client.session
        session["otp_device_id"] = device.persistent_id
        session.save()
        return device

    return login


# --- Terminal API (issue 4) -----------------------------------------------------------
class ApiTerminal:
    """A terminal with its token and a client that sends it."""

    def __init__(self, terminal, token):
        self.terminal, self.token = terminal, token
        from rest_framework.test import APIClient

        self.client = APIClient()
        self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    def post(self, path, data=None, **kwargs):
        return self.client.post(path, data, format="json", **kwargs)

    def put(self, path, data=None, **kwargs):
        return self.client.put(path, data, format="json", **kwargs)

    def get(self, path, **kwargs):
        return self.client.get(path, **kwargs)

    def delete(self, path, **kwargs):
        return self.client.delete(path, **kwargs)


ALL_SCOPES = ["verify", "reveal_identity", "register", "link", "report"]


@pytest.fixture
def make_terminal():
    """make_terminal(institution, scopes=[...], kind="01") -> ApiTerminal."""
    from django.core.cache import cache

    from healthcard.terminals import create_terminal

    cache.clear()  # throttle counters must not leak between tests

    def make(institution, scopes=ALL_SCOPES, kind="01", name="HIS"):
        terminal, token = create_terminal(institution, name, kind=kind, scopes=scopes)
        return ApiTerminal(terminal, token)

    return make


@pytest.fixture
def terminal(hospital, make_terminal):
    """A terminal of `hospital` with every scope (.terminal, .token, .client, .post ...)."""
    return make_terminal(hospital)


@pytest.fixture
def outsider_terminal(other_hospital, make_terminal):
    """A terminal of `other_hospital` with every scope."""
    return make_terminal(other_hospital, name="Other HIS")


class _DistinctSequences:
    """Stands in for `random` inside make_id_number: draws each sequence number once."""

    def __init__(self) -> None:
        self.pool = random.sample(range(1, 999), 998)

    def randrange(self, start: int, stop: int) -> int:
        return self.pool.pop()


@pytest.fixture(autouse=True)
def _fresh_data_keys():
    """Each test's database starts without data keys; none cached from another test."""
    from healthcard import datakeys

    datakeys.forget()
    yield
    datakeys.forget()


@pytest.fixture(autouse=True)
def _distinct_generated_id_numbers(monkeypatch):
    """make_id_number() without `seq` picked one of 998 numbers at random, so a test
    registering two or three people failed now and then as a duplicate registration.
    Within a test, every generated number is now distinct."""
    monkeypatch.setattr(f"{__name__}.random", _DistinctSequences())


class MonotonicClock:
    """Stands in for time.monotonic: moves only when a test sets `now`."""

    now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    """The clock of healthcard.versioned's snapshots (key state, known terminals)."""
    from healthcard import versioned

    clock = MonotonicClock()
    monkeypatch.setattr(versioned.time, "monotonic", clock)
    return clock


@pytest.fixture(autouse=True)
def _fresh_process_snapshots():
    """Each test's database starts without the keys and terminals an earlier test made:
    a process's snapshots (healthcard.versioned: key state, known terminals) must not
    carry them over."""
    from healthcard import versioned

    versioned.forget_all()
    yield
    versioned.forget_all()
