"""The verification hot path's queries as plain SQL, on PostgreSQL.

Building and compiling a queryset costs more CPU than PostgreSQL spends answering a
lookup on a unique column: measured on the development machine, the card lookup with
its person takes 410 µs of Python through the ORM and under 80 µs here
(docs/performance.md). Every function below does what the ORM call named in its
docstring does and is tested against it (tests/test_sql.py); on any other database
(SQLite in development and tests) it simply makes that ORM call.

Only public APIs: Django's DB-API connection (`connection.connection`) with
the checks `connection.cursor()` makes before it makes a cursor (`ensure_connection`,
`close_if_health_check_failed`, `validate_thread_sharing`) and the wrapper it puts
around one (`make_cursor`): unprefixed methods of Django's database wrapper, not in
Django's documentation (see _rows); psycopg's own server-binding cursor and its
documented adapters API (`adapters.get_loader`, `register_loader`); the `_meta` API
for table and column names, `Field.from_db_value` / `get_db_prep_save` / `pre_save`,
`Model.from_db` and `Model._state`, the documented way to mark an instance as saved.
"""

# ruff: noqa: S608 - names in the SQL come from the models' _meta; values are parameters.
from __future__ import annotations

import weakref
from functools import cache
from typing import Any

import psycopg
from django.conf import settings
from django.db import connections, router, transaction
from django.db.models import Model, Q, signals

from healthcard.models import (
    AuditChainHead,
    AuditRecord,
    Card,
    CardLink,
    Institution,
    LinkKind,
    Person,
    Terminal,
)


def _connection(model: type[Model], *, write: bool = False):
    alias = (router.db_for_write(model) if write else router.db_for_read(model)) or "default"
    connection = connections[alias]
    return connection if connection.vendor == "postgresql" else None


@cache
def _select(model: type[Model], alias: str) -> tuple[list, str]:
    fields = list(model._meta.concrete_fields)
    return fields, ", ".join(f'{alias}."{f.column}"' for f in fields)


@cache
def _reading(model: type[Model]) -> tuple[list[str], list[tuple[int, Any]]]:
    """The concrete fields' attribute names, and (position, from_db_value) of those
    that convert what the database returns."""
    fields, _columns = _select(model, "x")
    converters = [(i, f.from_db_value) for i, f in enumerate(fields) if hasattr(f, "from_db_value")]
    return [f.attname for f in fields], converters


def _instance(model: type[Model], row: tuple, start: int, connection) -> tuple[Model, int]:
    """The model instance from row[start:], as the ORM makes it; and where it ended."""
    names, converters = _reading(model)
    end = start + len(names)
    values = list(row[start:end])
    for i, convert in converters:
        values[i] = convert(values[i], None, connection)
    return model.from_db(connection.alias, names, values), end


def _rows(connection, sql: str, params: list) -> list[tuple]:
    """Run one of this module's statements and return its rows.

    Through a server-binding psycopg cursor on Django's connection, where Django's own
    cursors bind client-side: the parameters travel apart from the statement (no
    quoting in Python), and psycopg prepares the statement on the connection the first
    time it sees it (protocol-level prepared statements, which it re-makes by itself on
    a new connection). PostgreSQL spends more CPU planning the card lookup (a
    three-table join) than running it, about 270 of 330 µs measured here
    (docs/performance.md). With HEALTHCARD_DB_PREPARED_STATEMENTS off (a pooler that
    cannot keep them) nothing is prepared.

    One such cursor serves every statement of its database connection (_cursor): a
    psycopg cursor keeps the loader of each result type and the dumper of each
    parameter type it has met, which a new cursor per statement made again, about a
    third of a card lookup's client CPU (docs/performance.md). It is wrapped by
    `connection.make_cursor`, the wrapper `connection.cursor()` itself uses, so that
    django.db errors and execute wrappers apply as to any query; it is never closed by
    the wrapper (no `with`), only left behind with its connection.

    While Django logs queries (DEBUG, or a test counting them) its own cursor runs the
    statement instead, so that the log shows it; the rows are the same (tested)."""
    if connection.queries_logged:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    wrapper = connection.make_cursor(_cursor(connection))
    wrapper.execute(sql, params)
    return wrapper.fetchall()


# The hot path's cursor of each of this process's database connections (Django's
# connection objects are per thread). Weak keys: a connection object that is dropped
# takes its entry with it; the cursor refers to the psycopg connection, not the key.
_cursors: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _cursor(connection) -> _PreparingCursor:
    """The _PreparingCursor of `connection`'s current psycopg connection, after the
    checks `connection.cursor()` makes before making a cursor: a failed health check
    closes the connection, a closed one is (re)opened, and a connection is used only
    by its own thread. A new psycopg connection (after CONN_MAX_AGE, a lost server)
    gets a new cursor."""
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    cursor = _cursors.get(connection)
    if cursor is None or cursor.connection is not connection.connection or cursor.closed:
        with connection.wrap_database_errors:
            cursor = _cursors[connection] = _PreparingCursor(connection.connection)
    return cursor


class _PreparingCursor(psycopg.Cursor):
    """psycopg's server-binding cursor, preparing each statement on its first use (or
    never, by the setting) rather than after the connection's threshold of uses.

    It reads `timestamptz` with psycopg's own loader (in C with psycopg[binary]), where
    Django's cursors use Django's, a Python subclass of psycopg's pure-Python loader
    that replaces the result's tzinfo with the connection's time zone (the session's
    TimeZone, which Django sets). psycopg's loader converts to the session's TimeZone
    itself: the same instant in the same zone (`datetime.timezone.utc` for UTC), about
    20 µs less per card lookup (docs/performance.md); tested equal to the ORM's values."""

    def __init__(self, connection, **kwargs):
        super().__init__(connection, **kwargs)
        self.adapters.register_loader(_TIMESTAMPTZ, _TIMESTAMPTZ_LOADER)

    def execute(self, query, params=None, *, prepare=None, binary=None):
        if prepare is None:
            prepare = bool(settings.HEALTHCARD_DB_PREPARED_STATEMENTS)
        return super().execute(query, params, prepare=prepare, binary=binary)


_TIMESTAMPTZ = psycopg.adapters.types["timestamptz"].oid
_TIMESTAMPTZ_LOADER = psycopg.adapters.get_loader(_TIMESTAMPTZ, psycopg.pq.Format.TEXT)


# --- reads ---------------------------------------------------------------------------


@cache
def _terminal_sql() -> str:
    _f, terminal = _select(Terminal, "t")
    _f, institution = _select(Institution, "i")
    return (
        f"SELECT {terminal}, {institution} FROM {Terminal._meta.db_table} t"
        f" JOIN {Institution._meta.db_table} i ON i.id = t.institution_id"
        " WHERE t.token_prefix = %s LIMIT 1"
    )


def terminal_by_prefix(prefix: str) -> Terminal | None:
    """Terminal.objects.select_related("institution").filter(token_prefix=prefix).first()"""
    connection = _connection(Terminal)
    if connection is None:
        return (
            Terminal.objects.select_related("institution")
            .filter(token_prefix=prefix)
            .order_by()
            .first()
        )
    rows = _rows(connection, _terminal_sql(), [prefix])
    if not rows:
        return None
    terminal, end = _instance(Terminal, rows[0], 0, connection)
    terminal.institution, _end = _instance(Institution, rows[0], end, connection)
    return terminal


_VISIBLE_LINK = "(l.institution_id IS NULL OR (l.kind = %s AND l.institution_id = %s))"


@cache
def _card_sql(with_links: bool) -> str:
    _f, card = _select(Card, "c")
    _f, person = _select(Person, "p")
    if not with_links:
        return (
            f"SELECT {card}, {person} FROM {Card._meta.db_table} c"
            f" JOIN {Person._meta.db_table} p ON p.id = c.person_id"
            " WHERE c.ehc_id = %s LIMIT 1"
        )
    _f, link = _select(CardLink, "l")
    return (
        f"SELECT {card}, {person}, {link} FROM {Card._meta.db_table} c"
        f" JOIN {Person._meta.db_table} p ON p.id = c.person_id"
        f" LEFT JOIN {CardLink._meta.db_table} l ON l.card_id = c.id AND {_VISIBLE_LINK}"
        " WHERE c.ehc_id = %s"
    )


def card_by_ehc_id(ehc_id: str, *, links_for: int | None = None) -> Card | None:
    """Card.objects.select_related("person").filter(ehc_id=ehc_id).first(); with
    `links_for` (an institution ID) the card also carries, as `prefetched_links`,
    (links_for, visible_links(card.pk, links_for)) from the same statement: one round
    trip instead of two (two ORM queries on other databases)."""
    connection = _connection(Card)
    if connection is None:
        card = Card.objects.select_related("person").filter(ehc_id=ehc_id).order_by().first()
        if card is not None and links_for is not None:
            card.prefetched_links = (links_for, visible_links(card.pk, links_for))
        return card
    if links_for is None:
        rows = _rows(connection, _card_sql(False), [ehc_id])
    else:
        rows = _rows(connection, _card_sql(True), [LinkKind.LOCAL_PATIENT, links_for, ehc_id])
    if not rows:
        return None
    card, end = _instance(Card, rows[0], 0, connection)
    card.person, end = _instance(Person, rows[0], end, connection)
    if links_for is not None:
        fields, _columns = _select(CardLink, "l")
        pk = end + fields.index(CardLink._meta.pk)  # NULL: the card has no visible link
        card.prefetched_links = (
            links_for,
            [_instance(CardLink, row, end, connection)[0] for row in rows if row[pk] is not None],
        )
    return card


@cache
def _links_sql() -> str:
    _f, columns = _select(CardLink, "l")
    return (
        f"SELECT {columns} FROM {CardLink._meta.db_table} l WHERE l.card_id = %s"
        f" AND {_VISIBLE_LINK}"
    )


def visible_links(card_id: int, institution_id: int) -> list[CardLink]:
    """CardLink.objects.filter(Q(institution=None) | Q(kind=LOCAL_PATIENT,
    institution_id=institution_id), card_id=card_id), in no particular order."""
    connection = _connection(CardLink)
    if connection is None:
        return list(
            CardLink.objects.filter(
                Q(institution__isnull=True)
                | Q(kind=LinkKind.LOCAL_PATIENT, institution_id=institution_id),
                card_id=card_id,
            ).order_by()
        )
    rows = _rows(connection, _links_sql(), [card_id, LinkKind.LOCAL_PATIENT, institution_id])
    return [_instance(CardLink, row, 0, connection)[0] for row in rows]


@cache
def _free_head_sql() -> str:
    _f, columns = _select(AuditChainHead, "h")
    return (
        f"SELECT {columns} FROM {AuditChainHead._meta.db_table} h WHERE h.partition < %s"
        " ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED"
    )


def lock_free_audit_head(partitions: int) -> AuditChainHead | None:
    """AuditChainHead.objects.select_for_update(skip_locked=True)
    .filter(partition__lt=partitions).order_by("?").first(); inside a transaction."""
    connection = _connection(AuditChainHead, write=True)
    if connection is None:
        return (
            AuditChainHead.objects.select_for_update(skip_locked=True)
            .filter(partition__lt=partitions)
            .order_by("?")
            .first()
        )
    rows = _rows(connection, _free_head_sql(), [partitions])
    return _instance(AuditChainHead, rows[0], 0, connection)[0] if rows else None


# --- inserts -------------------------------------------------------------------------


@cache
def _insert_sql(model: type[Model]) -> tuple[list, str]:
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key and not f.generated]
    columns = ", ".join(f'"{f.column}"' for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = (
        f"INSERT INTO {meta.db_table} ({columns}) VALUES ({placeholders})"
        f' RETURNING "{meta.pk.column}"'
    )
    return fields, sql


def _plain_insert_connection(obj: Model, *also: type[Model]):
    """The PostgreSQL connection when plain SQL does what save() does for `obj` (and
    for the `also` models a statement updates), else None: not PostgreSQL, the primary
    key is already set, or a save signal has listeners."""
    model = type(obj)
    connection = _connection(model, write=True)
    if connection is None or obj.pk is not None:
        return None
    for m in (model, *also):
        if signals.pre_save.has_listeners(m) or signals.post_save.has_listeners(m):
            return None
    return connection


def _insert_params(obj: Model, fields: list, connection) -> list[Any]:
    return [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]


def _saved(obj: Model, pk: Any, connection) -> None:
    obj.pk = pk
    obj._state.db = connection.alias
    obj._state.adding = False


def insert(obj: Model) -> None:
    """obj.save() for a new row with an automatic primary key (UsageEvent, AuditRecord);
    save() itself where plain SQL could differ (_plain_insert_connection)."""
    connection = _plain_insert_connection(obj)
    if connection is None:
        obj.save()
        return
    fields, sql = _insert_sql(type(obj))
    params = _insert_params(obj, fields, connection)
    # As save(): a failed INSERT inside atomic() marks the transaction for rollback.
    with transaction.mark_for_rollback_on_error(using=connection.alias):
        [(pk,)] = _rows(connection, sql, params)
    _saved(obj, pk, connection)


@cache
def _append_audit_sql() -> tuple[list, str]:
    fields, insert_sql = _insert_sql(AuditRecord)
    meta = AuditChainHead._meta
    seq, digest = meta.get_field("seq").column, meta.get_field("hash").column
    return fields, (
        f"WITH r AS ({insert_sql}) UPDATE {meta.db_table}"
        f' SET "{seq}" = %s, "{digest}" = %s WHERE "{meta.pk.column}" = %s'
        f' RETURNING (SELECT "{AuditRecord._meta.pk.column}" FROM r)'
    )


def append_audit(record: AuditRecord, head: AuditChainHead) -> None:
    """insert(record); then head.seq, head.hash = record.seq, record.hash, stored:
    one statement instead of two on PostgreSQL. `head` is locked by the caller's
    transaction; a head that is gone raises AuditChainHead.DoesNotExist (roll back)."""
    head.seq, head.hash = record.seq, record.hash
    connection = _plain_insert_connection(record, AuditChainHead)
    if connection is None:
        insert(record)
        if not AuditChainHead.objects.filter(pk=head.pk).update(seq=head.seq, hash=head.hash):
            raise AuditChainHead.DoesNotExist(f"audit chain head {head.pk}")
        return
    fields, sql = _append_audit_sql()
    params = [*_insert_params(record, fields, connection), head.seq, head.hash, head.pk]
    with transaction.mark_for_rollback_on_error(using=connection.alias):
        rows = _rows(connection, sql, params)
        if not rows:  # the head is gone: nothing may be half-written
            raise AuditChainHead.DoesNotExist(f"audit chain head {head.pk}")
    _saved(record, rows[0][0], connection)


# The chain position of an audit record, as the statement below computes it.
_CHAIN_COLUMNS = {"partition": "c.p", "seq": "c.s", "prev_hash": "c.prev", "hash": "c.digest"}


def _cast_type(field, connection) -> str:
    """The column's type without its modifier: varchar for varchar(80). INSERT …
    SELECT needs typed expressions, and an explicit cast to varchar(80) would cut a
    longer value short where INSERT … VALUES refuses it; assigning varchar to the
    column refuses it as VALUES does."""
    return field.db_type(connection).split("(")[0]


def _typed_values(fields: list, connection, chain: dict[str, str] | None = None) -> str:
    chain = chain or {}
    return ", ".join(
        chain.get(f.attname) or f"CAST(%s AS {_cast_type(f, connection)})" for f in fields
    )


@cache
def _audit_at_free_head_sql(also: type[Model] | None, alias: str) -> tuple[list, list, str]:
    connection = connections[alias]
    head = AuditChainHead._meta
    partition, seq, digest = (head.get_field(n).column for n in ("partition", "seq", "hash"))
    fields, _insert = _insert_sql(AuditRecord)
    columns = ", ".join(f'"{f.column}"' for f in fields)
    values = _typed_values(fields, connection, _CHAIN_COLUMNS)
    record_pk = AuditRecord._meta.pk.column
    statement = (
        # The head: as lock_free_audit_head, inside this one statement.
        f'WITH h AS MATERIALIZED (SELECT h."{partition}" AS p, h."{seq}" AS s,'
        f' h."{digest}" AS prev FROM {head.db_table} h WHERE h."{partition}" < %s'
        " ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED),"
        # The record's position and hash: SHA-256 of its canonical text, which the
        # caller gives in four parts around the partition, previous hash and seq.
        " c AS MATERIALIZED (SELECT p, s + 1 AS s, prev, encode(sha256(convert_to("
        "CAST(%s AS text) || p::text || CAST(%s AS text) || prev || CAST(%s AS text)"
        " || (s + 1)::text || CAST(%s AS text), 'UTF8')), 'hex') AS digest FROM h),"
        f" r AS (INSERT INTO {AuditRecord._meta.db_table} ({columns})"
        f' SELECT {values} FROM c RETURNING "{record_pk}"),'
        f' m AS (UPDATE {head.db_table} SET "{seq}" = c.s, "{digest}" = c.digest FROM c'
        f' WHERE {head.db_table}."{partition}" = c.p)'
    )
    also_fields = []
    returning = f'(SELECT "{record_pk}" FROM r), c.p, c.s, c.prev, c.digest'
    if also is not None:
        also_fields, _insert = _insert_sql(also)
        also_columns = ", ".join(f'"{f.column}"' for f in also_fields)
        statement += (
            f", a AS (INSERT INTO {also._meta.db_table} ({also_columns})"
            f" SELECT {_typed_values(also_fields, connection)} FROM c"
            f' RETURNING "{also._meta.pk.column}")'
        )
        returning += ', (SELECT "' + also._meta.pk.column + '" FROM a)'
    record_fields = [f for f in fields if f.attname not in _CHAIN_COLUMNS]
    return record_fields, also_fields, f"{statement} SELECT {returning} FROM c"


def append_audit_at_free_head(
    record: AuditRecord, parts: tuple[str, str, str, str], partitions: int, also: Model | None
) -> bool:
    """On PostgreSQL, in one statement: lock a chain head no other transaction holds
    (as lock_free_audit_head), give `record` the next position in that chain, hash
    it, append it and move the head (as append_audit), and insert the new row `also`
    if given; True when written. The hash is SHA-256 of parts[0] + partition +
    parts[1] + previous hash + parts[2] + seq + parts[3] (audit._canonical_parts).

    False, with nothing written, where this does not apply: not PostgreSQL, a save
    signal listens, `also` lives in another database, or no head is free (every one
    busy, or none made yet); the caller then takes the transactional path. In
    autocommit the statement is its own transaction: no BEGIN and COMMIT round trips,
    and the lock is held only while the statement runs."""
    connection = _plain_insert_connection(record, AuditChainHead)
    if connection is None or (
        also is not None and _plain_insert_connection(also) is not connection
    ):
        return False  # (`also` stored elsewhere cannot be in the same statement)
    record_fields, also_fields, statement = _audit_at_free_head_sql(
        type(also) if also is not None else None, connection.alias
    )
    params = [partitions, *parts, *_insert_params(record, record_fields, connection)]
    if also is not None:
        params += _insert_params(also, also_fields, connection)
    with transaction.mark_for_rollback_on_error(using=connection.alias):
        rows = _rows(connection, statement, params)
    if not rows:
        return False
    row = rows[0]
    record.partition, record.seq, record.prev_hash, record.hash = row[1:5]
    _saved(record, row[0], connection)
    if also is not None:
        _saved(also, row[5], connection)
    return True
