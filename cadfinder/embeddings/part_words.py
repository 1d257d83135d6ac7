"""A part's words as the sentence encoder reads them (cad_models.description_embedding).

Written after each ingestion for the parts that lack them (new, renamed or re-described parts:
ingestion clears them when it rewrites a row), and by `cadfinder embed` after a change of
encoder: the documents come from the database alone, so this runs in the ingesting process,
a batch per transaction (resumable).
"""

from __future__ import annotations

from cadfinder.embeddings.sentences import SentenceModel, part_document

STALE_SQL = ("SELECT id, part_number, name, family, description FROM cad_models "
             "WHERE description_model IS DISTINCT FROM %s ORDER BY part_number")


def backfill(conn, model: SentenceModel, batch: int = 256) -> dict:
    """Embed the words of every part whose embedding is missing or from another encoder. A part
    known by its part number alone (a bare STL) gets none: its number says nothing of its shape,
    and an embedding of it would only add noise to the text score."""
    rows = conn.execute(STALE_SQL, (model.version,)).fetchall()
    conn.commit()
    done = 0
    for start in range(0, len(rows), batch):
        chunk = rows[start:start + batch]
        docs = [part_document(name if name != pn else None, family, desc) for _, pn, name, family, desc in chunk]
        vectors = model.embed([d or "part" for d in docs])
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany("UPDATE cad_models SET description_embedding = %s, description_model = %s WHERE id = %s",
                            [(v if d else None, model.version, pid) for (pid, *_), d, v in zip(chunk, docs, vectors)])
        done += len(chunk)
    return {"descriptions_embedded": done, "description_model": model.version}
