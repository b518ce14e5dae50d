"""Everything encrypted at rest, checked and moved to the active data keys.

`COLUMNS` lists every encrypted column with the context it is sealed for. `check`
decrypts a sample of each (and every data key and key-store secret) and reports;
`reencrypt` moves rows sealed under a retired data key to the active one, online, in
batches, each row by a conditional UPDATE on its old ciphertext (a concurrent change
wins), and destroys a retired data key once nothing refers to it. It keeps no state of
its own: a row's header names its data key, so an interrupted run simply runs again.
"""

import datetime
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from healthcard import audit, datakeys, envelope
from healthcard.models import (
    CardLink,
    DataKey,
    DataKeyPurpose,
    DataKeyState,
    Key,
    Person,
)


@dataclass(frozen=True)
class Column:
    model: type[models.Model]
    field: str
    purpose: str  # the data key purpose that seals it
    extra: tuple[str, ...]  # other columns the context is made of
    context: Callable[..., bytes]

    @property
    def label(self) -> str:
        return f"{self.model._meta.label_lower}.{self.field}"


def _fixed(name: str) -> Callable[..., bytes]:
    return lambda: name.encode()


COLUMNS = (
    Column(Person, "id_number_enc", DataKeyPurpose.PII, (), _fixed("id_number")),
    Column(Person, "phone_enc", DataKeyPurpose.PII, (), _fixed("phone")),
    Column(Person, "address_enc", DataKeyPurpose.PII, (), _fixed("address")),
    Column(CardLink, "number_enc", DataKeyPurpose.PII, (), _fixed("card_link")),
    Column(
        Key,
        "secret_enc",
        DataKeyPurpose.KEY_STORE,
        ("kid", "purpose"),
        lambda kid, purpose: f"{kid}|{purpose}".encode(),
    ),
)


def _rows(column: Column, batch: int, after: int = 0) -> Iterator[list[tuple]]:
    """Batches of (pk, blob, *extra) in primary-key order, without null blobs."""
    qs = column.model.objects.exclude(**{f"{column.field}__isnull": True}).order_by("pk")
    while True:
        rows = list(qs.filter(pk__gt=after).values_list("pk", column.field, *column.extra)[:batch])
        if not rows:
            return
        yield rows
        after = rows[-1][0]


def _open(column: Column, blob: bytes, extra: tuple) -> bytes:
    blob = bytes(blob)
    return envelope.unseal(datakeys.secret(envelope.key_id(blob)), blob, column.context(*extra))


@dataclass
class CheckReport:
    data_keys: list[tuple[DataKey, str, bool]] = field(default_factory=list)  # key, KEK, opens
    columns: list[tuple[str, int, int]] = field(default_factory=list)  # label, sampled, failed

    @property
    def ok(self) -> bool:
        return all(opens for _k, _u, opens in self.data_keys) and not any(
            failed for _l, _s, failed in self.columns
        )


def check(*, sample: int = 100, actor=None) -> CheckReport:
    """Unwrap every data key and decrypt up to `sample` rows of every encrypted column
    (every key-store secret). Audited as `kek.check`."""
    report = CheckReport()
    datakeys.forget()  # really unwrap, not the cached secrets
    for key in DataKey.objects.exclude(state=DataKeyState.DESTROYED).order_by("purpose", "pk"):
        try:
            datakeys.unwrap(key)
            opens = True
        except envelope.EnvelopeError:
            opens = False
        report.data_keys.append((key, datakeys.under_kek(key), opens))
    for column in COLUMNS:
        limit = None if column.model is Key else sample
        sampled = failed = 0
        for rows in _rows(column, batch=500):
            for _pk, blob, *extra in rows:
                sampled += 1
                try:
                    _open(column, blob, tuple(extra))
                except envelope.EnvelopeError:
                    failed += 1
                if limit is not None and sampled >= limit:
                    break
            if limit is not None and sampled >= limit:
                break
        report.columns.append((column.label, sampled, failed))
    audit.record(
        "kek.check",
        actor=actor,
        result="ok" if report.ok else "error",
        data_keys=len(report.data_keys),
        under_previous=sum(1 for _k, under, _o in report.data_keys if under == "previous"),
        failed=sum(f for _l, _s, f in report.columns),
    )
    return report


@dataclass
class Progress:
    column: str
    scanned: int
    total: int
    moved: int


def reencrypt(
    *, batch: int = 500, actor=None, progress: Callable[[Progress], None] | None = None
) -> dict[str, int]:
    """Move every row sealed under a retired data key to the active one, then destroy
    the retired keys nothing refers to any more (only once they have been retired
    longer than two data-key cache periods, so no process still writes with them).
    Safe to interrupt and run again. Returns {"moved", "left", "destroyed"}."""
    started = timezone.now()
    active = {
        purpose: datakeys.active(purpose)
        for purpose in (DataKeyPurpose.PII, DataKeyPurpose.KEY_STORE)
    }
    audit.record("kek.reencrypt_start", actor=actor, batch=batch)
    moved = left = 0
    for column in COLUMNS:
        kid, key = active[column.purpose]
        total = column.model.objects.exclude(**{f"{column.field}__isnull": True}).count()
        scanned = column_moved = 0
        for rows in _rows(column, batch):
            with transaction.atomic():
                for pk, blob, *extra in rows:
                    blob = bytes(blob)
                    if envelope.key_id(blob) == kid:
                        continue
                    try:
                        plain = _open(column, blob, tuple(extra))
                    except envelope.EnvelopeError:
                        left += 1  # `kek check` names it; nothing to move it with
                        continue
                    sealed = envelope.seal(key, kid, plain, column.context(*extra))
                    done = column.model.objects.filter(pk=pk, **{column.field: blob}).update(
                        **{column.field: sealed}
                    )
                    column_moved += done
                    left += 1 - done  # changed meanwhile: the writer used the active key
            scanned += len(rows)
            if progress:
                progress(Progress(column.label, scanned, total, column_moved))
        audit.record(
            "kek.reencrypt_column",
            actor=actor,
            column=column.label,
            scanned=scanned,
            moved=column_moved,
        )
        moved += column_moved
    destroyed = 0
    quiet = datetime.timedelta(seconds=2 * settings.HEALTHCARD_DATA_KEY_CACHE_SECONDS)
    if left == 0:
        for old in DataKey.objects.filter(
            state=DataKeyState.RETIRED, retired_at__lte=started - quiet
        ).exclude(purpose=DataKeyPurpose.PII_INDEX):
            datakeys.destroy(old, actor=actor, reason="re-encrypted")
            destroyed += 1
    result = {"moved": moved, "left": left, "destroyed": destroyed}
    audit.record("kek.reencrypt_finish", actor=actor, **result)
    return result
