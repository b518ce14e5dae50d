"""Hot lookups compiled to SQL once per process instead of on every request.

Building and compiling a queryset (filters, joins, the select list) costs more CPU
than PostgreSQL spends answering a lookup on a unique column; the terminal API pays
it several times per verification. `PreparedQuery` lets the ORM write the SQL once,
with placeholder values, and afterwards only executes it with the real values and
turns the rows into model instances with the ORM's own converters and
select_related population, so the objects are the same as the queryset's.

Only the SQL text is kept: every call reads the database, so nothing mutable is
cached.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connections, router, transaction
from django.db.models import Model, QuerySet, signals
from django.db.models.query import get_related_populators
from django.db.models.sql import InsertQuery


@dataclass(frozen=True)
class _Compiled:
    connection: Any  # the DatabaseWrapper it was compiled for
    sql: str
    params: list
    positions: list[int]  # where each placeholder's value goes in params
    compiler: Any
    converters: dict  # what compiler.results_iter() would work out on every call
    model: type[Model]
    start: int  # the model's columns in a row: row[start:end]
    end: int
    init_list: list[str]
    populators: list  # select_related


class PreparedQuery:
    """`PreparedQuery(build, *placeholders)`: `build(*placeholders)` returns the
    queryset; each placeholder must appear exactly once among the compiled SQL
    parameters (use values no real call passes, of the field's type and within its
    range, since the ORM drops filters that cannot match). Then `instances(*values)`
    runs the same SQL with `values` in the placeholders' places.

    For querysets of model instances (select_related allowed, no annotations,
    no prefetch_related, no composite keys)."""

    def __init__(self, build: Callable[..., QuerySet], *placeholders: Any):
        self._build = build
        self._placeholders = placeholders
        self._model = build(*placeholders).model  # for the router; builds, runs nothing
        # One per alias, recompiled when the connection wrapper changes (another
        # thread's connection), so a compiler is never shared between threads.
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, alias: str, connection: Any) -> _Compiled:
        queryset = self._build(*self._placeholders)
        query = queryset.query
        if query.annotation_select or queryset._prefetch_related_lookups:
            raise ValueError("PreparedQuery handles plain model querysets only")
        compiler = query.get_compiler(using=alias, connection=connection)
        sql, params = compiler.as_sql()
        params = list(params)
        positions = []
        for placeholder in self._placeholders:
            found = [i for i, p in enumerate(params) if p == placeholder]
            if len(found) != 1:
                raise ValueError(f"placeholder {placeholder!r} must appear once in the SQL")
            positions.append(found[0])
        klass_info, select = compiler.klass_info, compiler.select
        columns = [col[0] for col in select[: compiler.col_count]]
        if compiler.has_composite_fields(columns):
            raise ValueError("PreparedQuery does not handle composite fields")
        select_fields = klass_info["select_fields"]
        start, end = select_fields[0], select_fields[-1] + 1
        return _Compiled(
            connection=connection,
            sql=sql,
            params=params,
            positions=positions,
            compiler=compiler,
            converters=compiler.get_converters(columns),
            model=klass_info["model"],
            start=start,
            end=end,
            init_list=[col[0].target.attname for col in select[start:end]],
            populators=get_related_populators(klass_info, select, alias),
        )

    def instances(self, *values: Any) -> list[Model]:
        alias = router.db_for_read(self._model) or "default"
        connection = connections[alias]
        c = self._compiled.get(alias)
        if c is None or c.connection is not connection:
            c = self._compiled[alias] = self._compile(alias, connection)
        params = c.params.copy()
        for position, value in zip(c.positions, values, strict=True):
            params[position] = value
        with connection.cursor() as cursor:
            cursor.execute(c.sql, params)
            rows = cursor.fetchall()
        if c.converters:
            rows = c.compiler.apply_converters(rows, c.converters)
        objects = []
        for row in rows:
            obj = c.model.from_db(alias, c.init_list, row[c.start : c.end])
            for populator in c.populators:
                populator.populate(row, obj)
            objects.append(obj)
        return objects

    def first(self, *values: Any) -> Model | None:
        found = self.instances(*values)
        return found[0] if found else None


class PreparedInsert:
    """`PreparedInsert(model).save(obj)` does what `obj.save()` does for a new row
    with an automatic primary key, with the INSERT compiled once: the values are
    prepared by the ORM's insert compiler each time (auto_now_add, JSON, UUIDs ...)
    and the returned columns (the id) set on `obj`. It falls back to `obj.save()`
    whenever it could differ: a save signal has listeners, the primary key is set,
    or the backend cannot return columns from an INSERT."""

    def __init__(self, model: type[Model]):
        self._model = model
        meta = model._meta
        self._fields = [
            f for f in meta.local_concrete_fields if f is not meta.auto_field and not f.generated
        ]
        self._returning = meta.db_returning_fields
        # alias -> (connection wrapper, compiler, sql, returning params, converters)
        self._compiled: dict[str, tuple] = {}

    def _compile(self, alias: str, connection: Any, obj: Model) -> tuple:
        query = InsertQuery(self._model)
        query.insert_values(self._fields, [obj])
        compiler = query.get_compiler(using=alias, connection=connection)
        compiler.returning_fields = self._returning
        [(sql, params)] = compiler.as_sql()
        if len(params) != len(self._fields) + len(compiler.returning_params):
            # A field with its own SQL placeholder: leave it to save().
            return connection, None, None, None, None
        table = self._model._meta.db_table
        cols = [field.get_col(table) for field in self._returning]
        return (
            connection,
            compiler,
            sql,
            list(compiler.returning_params),
            compiler.get_converters(cols),
        )

    def save(self, obj: Model) -> None:
        model = self._model
        alias = router.db_for_write(model, instance=obj) or "default"
        connection = connections[alias]
        if (
            obj.pk is not None
            or model._meta.parents
            or not connection.features.can_return_columns_from_insert
            or signals.pre_save.has_listeners(model)
            or signals.post_save.has_listeners(model)
        ):
            obj.save()
            return
        obj._prepare_related_fields_for_save(operation_name="save")
        entry = self._compiled.get(alias)
        if entry is None or entry[0] is not connection:
            entry = self._compiled[alias] = self._compile(alias, connection, obj)
        if entry[1] is None:
            obj.save()
            return
        _connection, compiler, sql, returning_params, converters = entry
        params = [compiler.prepare_value(f, compiler.pre_save_val(f, obj)) for f in self._fields]
        if any(hasattr(value, "as_sql") for value in params):
            obj.save()  # an expression as a value: compiled into the SQL by save()
            return
        # As save(): a failed INSERT inside atomic() marks the transaction for rollback.
        with transaction.mark_for_rollback_on_error(using=alias), connection.cursor() as cursor:
            cursor.execute(sql, params + returning_params)
            rows = [connection.ops.fetch_returned_insert_columns(cursor, returning_params)]
        if converters:
            rows = list(compiler.apply_converters(rows, converters))
        for value, field in zip(rows[0], self._returning, strict=True):
            setattr(obj, field.attname, value)
        obj._state.db = alias
        obj._state.adding = False
