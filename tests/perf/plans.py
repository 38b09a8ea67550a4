"""What PostgreSQL's own plan of a query read: for tests that a look-up's work follows
its school, not its LA or region (issue 13, goal 2). Counts, never times."""

from __future__ import annotations

import json
from typing import Any

from django.db import connection


def rows_read(queryset: Any, tables: set[str]) -> int:
    """Rows the plan for `queryset` read from `tables` (EXPLAIN ANALYZE: each scan's rows
    returned and removed by its filter, every loop), with sequential scans priced out:
    what the query's shape lets an index do. Statistics are gathered first, as
    autovacuum would on a real server."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE " + ", ".join(sorted(tables | {"directory_school"})))
        cursor.execute("SET LOCAL enable_seqscan = off")
    plan = json.loads(queryset.explain(format="json", analyze=True))
    read = 0
    nodes = [plan[0]["Plan"]]
    while nodes:
        node = nodes.pop()
        nodes.extend(node.get("Plans", ()))
        if node.get("Relation Name") in tables:
            removed = node.get("Rows Removed by Filter", 0) + node.get(
                "Rows Removed by Index Recheck", 0
            )
            read += (node["Actual Rows"] + removed) * node["Actual Loops"]
    return read
