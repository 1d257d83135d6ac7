"""How a filtered k-NN query reads its vectors: through the HNSW index, or as exact distances over
the rows the filter leaves, chosen by PostgreSQL's own estimate of how many rows that is.

HNSW finds the nearest vectors of the whole table and drops those the filter rejects; with a
selective filter its iterative scan must walk far (pgvector 0.8, 100,000 rows, a 1 % filter on a
column without a B-tree index: recall@10 0.85 at 31 ms). Exact distances over a few thousand
rows are exact and quick. PostgreSQL chooses between the two by its cost estimates, which are
right where a B-tree index finds the filtered rows and wrong where none does (feature and count
filters, size ranges on a later column), so the choice is made here: the exact form hides the
distance from the vector index (`+ 0`), and PostgreSQL reads the filtered rows and sorts them.
"""

from __future__ import annotations

from psycopg import sql

from cadfinder import filters as filters_mod

# Vectors (rows times vectors per row) at most which a filtered query reads them all exactly.
# bench/bench_pgvector.py, 100,000 rows x 256 dims, this 2-core CPU: exact over 10,000 rows (a
# 10 % filter) p50 3.8 ms at recall@10 1.00, HNSW 1.3 ms at 0.98; over 1,000 rows 0.6 ms at 1.00.
EXACT_VECTORS = 10_000


def estimate_statement(where: list) -> tuple[sql.Composable, dict]:
    """EXPLAIN of the parts a filter keeps: the planner's row estimate (see estimated_rows)."""
    cond, params = filters_mod.to_sql(where)
    return sql.SQL("EXPLAIN (FORMAT JSON) SELECT 1 FROM cad_models m WHERE {}").format(cond), params


def estimated_rows(explain_rows: list) -> float:
    """The planner's estimate of rows from the result of an estimate_statement."""
    plan = explain_rows[0][0]
    return float(plan[0]["Plan"]["Plan Rows"])


def exact(where: list, rows: float | None, vectors_per_row: int = 1) -> bool:
    """Whether a query with these filters reads its vectors exactly: only a filter (an
    unfiltered query has the index to itself) that leaves at most EXACT_VECTORS vectors."""
    return bool(where) and rows is not None and rows * vectors_per_row <= EXACT_VECTORS


def distance(column: sql.Composable, value: sql.Composable, exact: bool) -> sql.Composable:
    """`column <=> value` (cosine distance) as an ORDER BY key: the HNSW index's, or with `exact`
    one no index answers, so PostgreSQL reads the filtered rows and sorts them."""
    d = sql.SQL("{} <=> {}").format(column, value)
    return sql.SQL("({}) + 0").format(d) if exact else d
