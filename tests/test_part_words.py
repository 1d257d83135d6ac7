"""The sentence encoder (a pretrained model a package ships) and the parts' words it embeds:
pinned weights, what it reads, ingestion writing (and clearing) each part's embedding, and a
text query in a designer's own words finding the part, on the real library."""

import json

import numpy as np
import pytest

from cadfinder.errors import CadfinderError
from tests import stored_parts


def test_part_document_joins_name_kind_and_description():
    from cadfinder.embeddings.sentences import part_document

    assert part_document("Set collar 38", "set_collar", "Solid collar") == "Set collar 38. set collar. Solid collar"
    assert part_document(None, None, "") == ""


def test_weights_other_than_the_pinned_file_are_refused(tmp_path):
    from cadfinder.embeddings import sentences

    with pytest.raises(CadfinderError, match="missing"):
        sentences.check_weights(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"not the model")
    with pytest.raises(CadfinderError, match="is not the all-MiniLM-L6-v2 file"):
        sentences.check_weights(tmp_path)


def test_the_encoder_reads_words_no_caption_used():
    """Designers' words for a part land nearest the part's own name (the domain CLIP model,
    trained on captions of its families, has never seen any of these words)."""
    from cadfinder import models
    from cadfinder.embeddings.sentences import DIM

    names = ["Cover lid", "Plate cam", "Hex nut", "Sprocket chain wheel", "Pipe elbow 90 degrees"]
    asked = ["enclosure lid", "eccentric cam", "six-sided nut", "roller chain sprocket", "tube bend"]
    m = models.sentences()
    a, b = m.embed(asked), m.embed(names)
    assert a.shape == (5, DIM) and a.dtype == np.float32 and np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    assert (np.argmax(a @ b.T, axis=1) == np.arange(5)).all()
    assert m.embed([]).shape == (0, DIM)


def _stored_words(conn, numbers):
    return dict(conn.execute("SELECT part_number, description_model FROM cad_models WHERE part_number = ANY(%s)",
                             (numbers,)).fetchall())


def test_ingest_embeds_words_and_a_synonym_finds_the_part(ingested, library, small_catalog, tmp_path):
    """Every named part gets the encoder's embedding at ingestion; a bare STL (its sidecar names
    only the part number) gets none; re-ingesting a part under a new description embeds it again;
    and a description in words no part uses finds the part it means."""
    from cadfinder import library as library_mod
    from cadfinder import models
    from cadfinder.embeddings.sentences import VERSION
    from cadfinder.semantic_search import SemanticSearcher

    folder = tmp_path / "parts"
    names = stored_parts.copy_as_new_parts(small_catalog, folder, "T-WORDS", 2)
    bare, described = names
    (folder / f"{bare}.json").write_text(json.dumps({"part_number": bare}))
    (folder / f"{described}.json").write_text(json.dumps(
        {"part_number": described, "name": "Widget 7", "description": "knurled thumb wheel for a tripod head"}))
    from cadfinder import ingest

    try:
        with library_mod.writer(library, None) as conn:
            ingest.ingest(conn, [folder], models.weights_dir(library), jobs=1, progress=False)
            assert _stored_words(conn, names) == {bare: VERSION, described: VERSION}
            empty = conn.execute("SELECT part_number FROM cad_models WHERE part_number = ANY(%s) "
                                 "AND description_embedding IS NULL", (names,)).fetchall()
            assert empty == [(bare,)]
            missing = conn.execute("SELECT count(*) FROM cad_models WHERE description_model IS NULL").fetchone()[0]
            assert missing == 0
            conn.commit()
            searcher = SemanticSearcher(conn, models.clip(library))
            top = [r.part_number for r in searcher.search_text("ribbed finger wheel for a camera stand", k=3).results]
            assert top[0] == described, top
            # A material in the words: the described part's material is unknown, and it stays.
            top = [r.part_number for r in searcher.search_text("ribbed finger wheel for a camera stand in aluminium",
                                                               k=3).results]
            assert top[0] == described, top

            (folder / f"{described}.json").write_text(json.dumps(
                {"part_number": described, "name": "Widget 7", "description": "sheet metal drip tray"}))
            ingest.ingest(conn, [folder], models.weights_dir(library), jobs=1, progress=False)
            top = [r.part_number for r in searcher.search_text("tray that catches dripping oil", k=3).results]
            assert top[0] == described, top
    finally:
        with library_mod.writer(library, None) as conn:
            stored_parts.delete(conn, "T-WORDS")
