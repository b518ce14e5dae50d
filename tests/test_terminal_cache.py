"""healthcard.terminals keeps the terminals it authenticated per process
(healthcard.versioned): no query per request, and every change still applies at once
here, within CHECK seconds elsewhere, within MAX_AGE whatever happens to the cache."""

from django.core.cache import cache

from healthcard import terminals, versioned
from healthcard.models import Institution, Terminal

CHECK = terminals._known.check_seconds
MAX_AGE = terminals._known.max_age_seconds


def test_a_known_terminal_is_authenticated_without_a_query(
    terminal, clock, django_assert_num_queries
):
    assert terminals.authenticate(terminal.token) == terminal.terminal
    with django_assert_num_queries(0):
        assert terminals.authenticate(terminal.token).pk == terminal.terminal.pk


def test_a_wrong_secret_for_a_known_prefix_is_refused(terminal, clock):
    assert terminals.authenticate(terminal.token) is not None
    assert terminals.authenticate(terminal.token[:-4] + "AAAA") is None


def test_unknown_prefixes_are_not_kept(db, clock, django_assert_num_queries):
    for _ in range(2):
        with django_assert_num_queries(1):
            assert terminals.authenticate("hct_0123456789ab_secret") is None
    assert terminals._known.current() == {}


def test_disabling_here_applies_at_once(terminal, clock):
    assert terminals.authenticate(terminal.token) is not None
    terminals.disable(terminal.terminal)
    assert terminals.authenticate(terminal.token) is None


def test_a_rotated_token_stops_at_once_here(terminal, clock):
    assert terminals.authenticate(terminal.token) is not None
    new = terminals.rotate_token(terminal.terminal)
    assert terminals.authenticate(terminal.token) is None
    assert terminals.authenticate(new) is not None


def test_a_withdrawn_scope_applies_at_once_here(terminal, clock):
    assert terminals.authenticate(terminal.token).has_scope("reveal_identity")
    t = terminal.terminal
    terminals.change_terminal(t, name=t.name, kind=t.kind, scopes=["verify"])
    assert not terminals.authenticate(terminal.token).has_scope("reveal_identity")


def test_an_institution_closed_anywhere_applies_at_once_here(terminal, hospital, clock):
    assert terminals.authenticate(terminal.token) is not None
    institution = Institution.objects.get(pk=hospital.pk)
    institution.is_active = False
    institution.save()  # an admin form, say
    assert terminals.authenticate(terminal.token) is None


def test_with_the_cache_down_the_value_is_rebuilt_once_per_max_age(
    terminal, clock, monkeypatch, django_assert_num_queries
):
    def broken(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(versioned.cache, "get", broken)
    monkeypatch.setattr(versioned.cache, "set", broken)
    assert terminals.authenticate(terminal.token) is not None
    with django_assert_num_queries(0):
        for _ in range(4):  # a check every second finds the cache down: keeps the value
            clock.now += CHECK
            assert terminals.authenticate(terminal.token) is not None


def disable_elsewhere(terminal) -> None:
    """Another node's change as seen from here: the row changes, this process is not
    told."""
    Terminal.objects.filter(pk=terminal.pk).update(is_active=False)


def test_another_nodes_change_applies_when_the_token_changes(terminal, clock):
    assert terminals.authenticate(terminal.token) is not None
    disable_elsewhere(terminal.terminal)
    cache.set(terminals._known.cache_key, "changed-by-another-node")
    assert terminals.authenticate(terminal.token) is not None  # checked < CHECK ago
    clock.now += CHECK
    assert terminals.authenticate(terminal.token) is None


def test_with_the_cache_down_a_change_applies_within_max_age(terminal, clock, monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(versioned.cache, "get", broken)
    monkeypatch.setattr(versioned.cache, "set", broken)
    assert terminals.authenticate(terminal.token) is not None
    disable_elsewhere(terminal.terminal)
    clock.now += MAX_AGE - 0.1  # checked several times over: still the kept value
    assert terminals.authenticate(terminal.token) is not None
    clock.now += 0.1
    assert terminals.authenticate(terminal.token) is None


def test_a_disabled_terminal_gets_401_at_once_through_the_api(terminal, clock):
    body = {"code": "H1:x", "care_step": "010101"}
    assert terminal.post("/api/v1/codes/verify", body).status_code == 422
    terminals.disable(terminal.terminal)
    assert terminal.post("/api/v1/codes/verify", body).status_code == 401
