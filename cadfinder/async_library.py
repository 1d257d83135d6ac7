"""The library for an event loop (the app): async database calls, model work in threads.

The same query pipelines as the CLI (cadfinder.queries), run by pipeline.run_async: the SQL on a
psycopg AsyncConnection, model loading, encoding and re-ranking in worker threads, so the
caller's loop (qasync in the app) never waits on either.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np
import psycopg

from cadfinder import assemblies, models, pipeline, queries, search, stored
from cadfinder.db import connection, lifecycle, revisions
from cadfinder.errors import CadfinderError, DatabaseError, InputError
from cadfinder.settings import Settings


@dataclass
class PartDetails:
    part_number: str
    revision: str
    name: str
    family: str | None
    material: str | None
    mass_kg: float | None
    description: str
    size_mm: tuple
    genome: dict | None
    feature_counts: dict
    latent: np.ndarray | None
    norm_offset: np.ndarray
    norm_scale: float
    mesh_bytes: bytes | None
    mesh_format: str | None
    thumbnail_png: bytes | None
    source_file: str | None
    implicit_codes: bytes | None = None
    kind: str = "part"
    tree: dict | None = None  # an assembly's components (assemblies.build_tree)

    def mesh(self):
        """The exact tessellated geometry (trimesh, millimetres), or None."""
        return stored.load_mesh(self.mesh_bytes, self.mesh_format) if self.mesh_bytes else None

    def to_mm(self, canonical: np.ndarray) -> np.ndarray:
        """(N, 3) canonical coordinates of this part -> millimetres."""
        return stored.part_frame(self.norm_offset, self.norm_scale).to_mm(canonical)


class AsyncLibrary:
    """One async connection and the models, for many queries."""

    def __init__(self, settings: Settings, uri: str | None = None):
        self.settings = settings
        self.uri = uri
        self.conn: psycopg.AsyncConnection | None = None
        self.target: connection.Target | None = None
        self._searcher: search.Searcher | None = None
        self._lock = asyncio.Lock()
        self.engines = queries.Engines(geometry=self._geometry, clip=lambda: models.clip(self.settings),
                                      sentences=lambda: models.sentences(self.settings))

    # -- connection ---------------------------------------------------------------------------

    async def open(self) -> str:
        """Connect (starting the embedded server if it is the one configured); returns where."""
        await self.close()
        await asyncio.to_thread(lifecycle.ensure_ready, self.settings, self.uri)
        self.target = await asyncio.to_thread(connection.target, self.settings, self.uri)
        self.conn = await connection.connect_async(self.target, autocommit=True)
        try:
            for st in search.session_statements(self.settings.index.hnsw_ef_search):
                await self.conn.execute(st)
        except psycopg.Error as e:
            raise connection.explain(e, self.target) from None
        return self.target.describe()

    async def close(self) -> None:
        """Close the connection (the next call reconnects; the models stay loaded)."""
        if self.conn is not None:
            try:
                await self.conn.close()
            except psycopg.Error:
                pass
            self.conn = None

    def reconfigure(self, settings: Settings, uri: str | None = None) -> None:
        """New settings (another database, other models): the loaded searcher and what the
        session checked once (coverage warnings) are dropped; the next call reconnects."""
        self.settings, self.uri = settings, uri
        if self._searcher is not None:
            self._searcher.close(wait=False)
            self._searcher = None
        self.engines.warnings.clear()

    async def shutdown(self) -> None:
        """Close the connection and stop the re-rank threads (the window is closing: a fit still
        running is not waited for)."""
        await self.close()
        if self._searcher is not None:
            self._searcher.close(wait=False)

    def describe(self) -> str:
        return self.target.describe() if self.target else "not connected"

    async def _fetch(self, query, params=None, binary: bool = False) -> list[tuple]:
        """Rows of a read-only statement (the app never writes through this connection).

        A connection the server dropped (a restart, a failover, an idle timeout) is reopened and
        the statement sent once more, since reading twice is harmless; when the server cannot be
        reached, one DatabaseError, and the next call tries to connect again."""
        for attempt in (1, 2):
            if self.conn is None or self.conn.closed:
                await self.open()
            try:
                async with self._lock:
                    cur = await self.conn.execute(query, params, binary=binary)
                    return await cur.fetchall()
            except psycopg.OperationalError as e:
                dropped = self.conn.closed  # also when broken
                await self.close()
                if not (dropped and attempt == 1):
                    raise connection.explain(e, self.target) from None
            except psycopg.Error as e:
                raise connection.explain(e, self.target) from None
        raise AssertionError("unreachable")

    # -- library facts ------------------------------------------------------------------------

    async def facets(self) -> dict:
        """Families and materials present, for the filter panel."""
        fam = await self._fetch("SELECT DISTINCT family FROM cad_models WHERE family IS NOT NULL ORDER BY 1")
        mat = await self._fetch("SELECT DISTINCT material FROM cad_models WHERE material IS NOT NULL ORDER BY 1")
        return {"families": [r[0] for r in fam], "materials": [r[0] for r in mat]}

    async def stats(self) -> dict:
        """Library statistics for the admin panel."""
        rows = await self._fetch("SELECT family, count(*) FROM cad_models GROUP BY family ORDER BY 2 DESC")
        (total, with_views, with_genome, size), = await self._fetch(
            "SELECT count(*), count(clip_version), count(genome), pg_total_relation_size('cad_models') FROM cad_models")
        idx = await self._fetch("""SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c
                                   JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'hnsw' ORDER BY 1""")
        return {"parts": total, "with_view_embeddings": with_views, "with_genome": with_genome,
                "table_bytes": size, "families": {r[0] or "(none)": r[1] for r in rows},
                "indexes": {r[0]: r[1] for r in idx}, "database": self.describe(),
                "server": await pipeline.run_async(lifecycle.replication(), self._fetch)}

    async def part(self, part_number: str) -> PartDetails:
        rows = await self._fetch(
            "SELECT part_number, revision, name, family, material, mass_kg, description, size_x_mm, size_y_mm, "
            "size_z_mm, genome, feature_counts, sdf_latent, norm_offset, norm_scale, mesh_data, mesh_format, "
            "thumbnail_png, source_file, implicit_codes, kind, id FROM cad_models WHERE part_number = %s "
            + revisions.LATEST, (part_number,))
        if not rows:
            raise InputError(f"no part {part_number!r} in the library")
        r = rows[0]
        tree = None
        if r[20] == "assembly":
            tree = assemblies.build_tree((r[21], r[0], r[2], r[20]),
                                         await self._fetch(assemblies.TREE_SQL, assemblies.tree_params(r[21])))
        return PartDetails(r[0], r[1], r[2], r[3], r[4], r[5], r[6], (r[7], r[8], r[9]), r[10], r[11] or {},
                           r[12].to_numpy() if r[12] is not None else None, np.asarray(r[13] or [0, 0, 0], float),
                           float(r[14] or 1.0), r[15], r[16], r[17], r[18], r[19], r[20], tree)

    async def where_used(self, part_numbers: list[str]) -> list[dict]:
        """The assemblies that contain these parts (assemblies.used_in)."""
        return assemblies.used_in(await self._fetch(assemblies.WHERE_USED_SQL,
                                                    assemblies.where_used_params(part_numbers)))

    async def meshes(self, part_numbers: list[str]) -> dict:
        """part number -> the exact mesh (trimesh, mm) of its latest revision: one query, the
        meshes read off the event loop."""
        rows = await self._fetch("SELECT DISTINCT ON (part_number) part_number, mesh_data, mesh_format FROM cad_models "
                                 "WHERE part_number = ANY(%s) AND mesh_data IS NOT NULL "
                                 "ORDER BY part_number, " + revisions.NEWEST_FIRST, (list(part_numbers),))
        return await asyncio.to_thread(lambda: {pn: stored.load_mesh(blob, fmt) for pn, blob, fmt in rows})

    async def thumbnails(self, part_numbers: list[str]) -> dict[str, bytes]:
        from cadfinder.duplicate_report import THUMBNAILS

        rows = await self._fetch(THUMBNAILS, (list(part_numbers),))
        return {r[0]: r[1] for r in rows}

    # -- models and searches --------------------------------------------------------------------

    def _geometry(self) -> search.Searcher:
        """The shape encoder's searcher, loaded on first use (in a worker thread: see pipeline)."""
        if self._searcher is None:
            enc = models.encoder(self.settings)
            self._searcher = search.Searcher(None, enc, ef_search=self.settings.index.hnsw_ef_search)
        return self._searcher

    async def run(self, query_pipeline, on_partial=None, on_step=None) -> search.SearchResult:
        """Execute a query pipeline (cadfinder.queries, SearchSession.pipeline) on this library;
        `on_partial(result)` gets an answer to show before the final one, `on_step(label)` each
        heavy step as it starts."""
        return await pipeline.run_async(query_pipeline, self._fetch, on_partial, on_step)

    async def search_text(self, text: str, k: int = 10, where: list | None = None) -> search.SearchResult:
        return await self.run(queries.text(self.engines, text, k, where))

    async def search_sketch(self, grey: np.ndarray, k: int = 10, where: list | None = None,
                            text: str | None = None) -> search.SearchResult:
        return await self.run(queries.sketch(self.engines, grey, k, where, with_text=text))

    async def search_points(self, points: np.ndarray, k: int = 10, where: list | None = None,
                            text: str | None = None, label: str = "point cloud") -> search.SearchResult:
        return await self.run(queries.points(self.engines, points, k, where, label, with_text=text))

    async def search_like(self, part_number: str, k: int = 10, where: list | None = None) -> search.SearchResult:
        return await self.run(queries.like(self.engines, part_number, k, where))


def readable(e: BaseException) -> str:
    """A one-line message for any failure the app shows to a person."""
    if isinstance(e, (CadfinderError, DatabaseError, InputError)):
        return str(e)
    if isinstance(e, psycopg.Error):
        return str(connection.explain(e))
    if isinstance(e, MemoryError):
        return "out of memory: try a smaller file or fewer points"
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else 'unexpected error'}"
