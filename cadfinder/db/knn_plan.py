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

from dataclasses import dataclass

from psycopg import sql

from cadfinder import filters as filters_mod

# Vectors (rows times vectors per row) at most which a filtered query reads them all exactly.
# bench/bench_pgvector.py, 256 dims, this 2-core CPU: at 100,000 rows exact over 10,000 rows (a
# 10 % filter) p50 4.9 ms at recall@10 1.00, HNSW 1.7 ms at 0.98; at 1,000,000 rows exact over
# 10,000 rows (1 %) 3.8 ms at 1.00, where HNSW (PostgreSQL's own choice) took 13 ms at 0.88.
EXACT_VECTORS = 10_000
# Where no index finds the filtered rows, reading them exactly means reading the whole table: only
# below this planner cost (about 50,000 parts of cad_models; a 1,000-part library costs 216). At
# 1,000,000 rows such a read took 272 ms, HNSW 19 ms at recall 0.89.
EXACT_SCAN_COST = 10_000


@dataclass(frozen=True)
class Estimate:
    """PostgreSQL's estimate for a filter: the parts it keeps, and when finding them means a
    sequential scan of the table, that scan's planner cost (else None)."""

    rows: float
    scan_cost: float | None = None


def estimate_statement(where: list) -> tuple[sql.Composable, dict]:
    """EXPLAIN of the parts a filter keeps (see estimate)."""
    cond, params = filters_mod.to_sql(where)
    return sql.SQL("EXPLAIN (FORMAT JSON) SELECT 1 FROM cad_models m WHERE {}").format(cond), params


def estimate(explain_rows: list) -> Estimate:
    """The Estimate in the result of an estimate_statement."""
    plan = explain_rows[0][0][0]["Plan"]
    seq = plan.get("Node Type") == "Seq Scan"
    return Estimate(float(plan["Plan Rows"]), float(plan["Total Cost"]) if seq else None)


def exact(where: list, est: Estimate | None, vectors_per_row: int = 1) -> bool:
    """Whether a query with these filters reads its vectors exactly: only a filter (an
    unfiltered query has the index to itself) that leaves at most EXACT_VECTORS vectors, found
    through an index or in a table small enough to read whole."""
    return (bool(where) and est is not None and est.rows * vectors_per_row <= EXACT_VECTORS
            and (est.scan_cost is None or est.scan_cost <= EXACT_SCAN_COST))


def distance(column: sql.Composable, value: sql.Composable, exact: bool) -> sql.Composable:
    """`column <=> value` (cosine distance) as an ORDER BY key: the HNSW index's, or with `exact`
    one no index answers, so PostgreSQL reads the filtered rows and sorts them."""
    d = sql.SQL("{} <=> {}").format(column, value)
    return sql.SQL("({}) + 0").format(d) if exact else d
