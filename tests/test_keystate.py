"""healthcard.keystate: key state per verification from a process snapshot checked
against a version token in the cache, bumped by every key event."""

import pytest
from django.core.cache import cache
from django.db import transaction

from ehccode import Reason
from healthcard import codes, keys, keystate, versioned
from healthcard.models import Key, KeyPurpose, KeyState


def revoke_elsewhere(key: Key) -> None:
    """What another web node's revocation looks like from here: the row changes, and
    this process's snapshot was not told."""
    Key.objects.filter(pk=key.pk).update(state=KeyState.REVOKED)


def signing_key() -> Key:
    return Key.objects.get(purpose=KeyPurpose.CODE_SIGNING, state=KeyState.ACTIVE)


def test_a_warm_verification_reads_only_the_card(card, clock, django_assert_num_queries):
    code = codes.static_code(card)
    assert codes.verify_code(code).ok
    with django_assert_num_queries(1):
        assert codes.verify_code(code).ok


def test_a_revocation_in_this_process_applies_at_once(card, clock):
    code = codes.static_code(card)
    assert codes.verify_code(code).ok
    keys.revoke(signing_key())
    assert codes.verify_code(code).reason == Reason.KEY_REVOKED


def test_another_nodes_revocation_applies_when_the_cache_token_changes(card, clock):
    code = codes.static_code(card)
    assert codes.verify_code(code).ok
    revoke_elsewhere(signing_key())
    cache.set(keystate.CACHE_KEY, "changed-by-another-node")
    assert codes.verify_code(code).ok  # checked less than CHECK_SECONDS ago
    clock.now += keystate.CHECK_SECONDS
    assert codes.verify_code(code).reason == Reason.KEY_REVOKED


def test_without_a_token_change_a_snapshot_lives_at_most_max_age(card, clock):
    code = codes.static_code(card)
    assert codes.verify_code(code).ok
    revoke_elsewhere(signing_key())
    clock.now += keystate.MAX_AGE_SECONDS - 0.1
    assert codes.verify_code(code).ok
    clock.now += 0.1
    assert codes.verify_code(code).reason == Reason.KEY_REVOKED


def test_with_the_cache_down_verification_works_and_max_age_applies(card, clock, monkeypatch):
    code = codes.static_code(card)

    def broken(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(versioned.cache, "get", broken)
    monkeypatch.setattr(versioned.cache, "set", broken)
    assert codes.verify_code(code).ok
    revoke_elsewhere(signing_key())
    clock.now += keystate.MAX_AGE_SECONDS
    assert codes.verify_code(code).reason == Reason.KEY_REVOKED


def test_every_key_event_writes_a_new_token_on_commit(db, django_capture_on_commit_callbacks):
    tokens = []
    with django_capture_on_commit_callbacks(execute=True):
        key = keys.rotate(KeyPurpose.CODE_SIGNING)
    tokens.append(cache.get(keystate.CACHE_KEY))
    with django_capture_on_commit_callbacks(execute=True):
        keys.rotate(KeyPurpose.CODE_SIGNING)
    tokens.append(cache.get(keystate.CACHE_KEY))
    with django_capture_on_commit_callbacks(execute=True):
        keys.revoke(Key.objects.get(pk=key.pk))
    tokens.append(cache.get(keystate.CACHE_KEY))
    assert None not in tokens
    assert len(set(tokens)) == 3


def test_a_rolled_back_key_event_writes_no_token(db, django_capture_on_commit_callbacks):
    cache.set(keystate.CACHE_KEY, "before")
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        keys.rotate(KeyPurpose.CODE_SIGNING)
        raise RuntimeError("the surrounding change failed")
    assert callbacks == []
    assert cache.get(keystate.CACHE_KEY) == "before"


def test_the_snapshot_holds_the_current_and_previous_protection_keys(db, clock):
    first = keys.rotate(KeyPurpose.DYNAMIC_PROTECTION)
    second = keys.rotate(KeyPurpose.DYNAMIC_PROTECTION)
    assert [k.kid for k in keystate.protection_keys()] == [second.kid, first.kid]
