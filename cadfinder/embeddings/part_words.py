"""A part's words as the sentence encoder reads them (cad_models.description_embedding).

Written after each ingestion for the parts that lack them (new, renamed or re-described parts:
ingestion clears them when it rewrites a row), and by `cadfinder embed` after a change of
encoder: the documents come from the database alone, so this runs in the ingesting process,
a batch per transaction (resumable).
"""

from __future__ import annotations

from collections.abc import Callable

from cadfinder.embeddings.sentences import VERSION, SentenceModel, part_document

STALE_SQL = ("SELECT id, part_number, name, family, description FROM cad_models "
             "WHERE description_model IS DISTINCT FROM %s ORDER BY part_number")


def backfill(conn, load: Callable[[], SentenceModel], batch: int = 256) -> dict:
    """Embed the words of every part whose embedding is missing or from another encoder; the
    encoder is loaded (`load`) only when there is one. A part known by its part number alone (a
    bare STL) gets none: its number says nothing of its shape, and an embedding of it would only
    add noise to the text score."""
    rows = conn.execute(STALE_SQL, (VERSION,)).fetchall()
    conn.commit()
    model = load() if rows else None
    for start in range(0, len(rows), batch):
        chunk = rows[start:start + batch]
        docs = [part_document(name if name != pn else None, family, desc) for _, pn, name, family, desc in chunk]
        vectors = iter(model.embed([d for d in docs if d]))
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany("UPDATE cad_models SET description_embedding = %s, description_model = %s WHERE id = %s",
                            [(next(vectors) if d else None, VERSION, pid) for (pid, *_), d in zip(chunk, docs)])
    return {"descriptions_embedded": len(rows), "description_model": VERSION}
