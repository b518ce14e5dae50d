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
from typing import Any

from django.db import connections, router
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators


class PreparedQuery:
    """`PreparedQuery(build, *placeholders)`: `build(*placeholders)` returns the
    queryset; each placeholder must appear exactly once among the compiled SQL
    parameters (use values no real call passes, of the field's type). Then
    `instances(*values)` runs the same SQL with `values` in the placeholders' places.

    For querysets of model instances (select_related allowed, no annotations,
    no prefetch_related, no known related objects)."""

    def __init__(self, build: Callable[..., QuerySet], *placeholders: Any):
        self._build = build
        self._placeholders = placeholders
        self._model = build(*placeholders).model  # for the router; builds, runs nothing
        # alias -> (connection wrapper, compiled state); recompiled when the wrapper
        # changes (another thread's connection), so a compiler is never shared.
        self._compiled: dict[str, tuple[Any, tuple]] = {}

    def _compile(self, alias: str, connection: Any) -> tuple:
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
        select_fields = klass_info["select_fields"]
        start, end = select_fields[0], select_fields[-1] + 1
        init_list = [col[0].target.attname for col in select[start:end]]
        populators = get_related_populators(klass_info, select, alias)
        model = klass_info["model"]
        return sql, params, positions, compiler, model, start, end, init_list, populators

    def instances(self, *values: Any) -> list[Model]:
        alias = router.db_for_read(self._model) or "default"
        connection = connections[alias]
        entry = self._compiled.get(alias)
        if entry is None or entry[0] is not connection:
            entry = (connection, self._compile(alias, connection))
            self._compiled[alias] = entry
        sql, params, positions, compiler, model, start, end, init_list, populators = entry[1]
        params = params.copy()
        for position, value in zip(positions, values, strict=True):
            params[position] = value
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        objects = []
        for row in compiler.results_iter([rows]):
            obj = model.from_db(alias, init_list, row[start:end])
            for populator in populators:
                populator.populate(row, obj)
            objects.append(obj)
        return objects

    def first(self, *values: Any) -> Model | None:
        found = self.instances(*values)
        return found[0] if found else None
