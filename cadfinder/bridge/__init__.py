"""The bridge from a retrieved genome to an editable model: Creo over CREOSON, or the open kernel.

    open_genome(genome, "creo" | "cadquery", settings, ...)   one interface, backend from settings
    check(settings)                                           is the configured backend reachable?
"""

from __future__ import annotations

import tempfile

from cadfinder.errors import CadfinderError


def open_genome(genome: dict, backend: str | None, settings, out_dir: str | None = None, name: str | None = None,
                new_part_number: str | None = None) -> dict:
    """Open the genome with `backend` (default: settings.bridge.backend); returns what was done."""
    backend = backend or settings.bridge.backend
    if not isinstance(genome, dict):
        raise CadfinderError("no genome to open (this part was ingested from a mesh)")
    if backend == "cadquery":
        from cadfinder.bridge import cadquery_backend

        stem = name or new_part_number or "part"
        return cadquery_backend.build(genome, out_dir or tempfile.mkdtemp(prefix="cadfinder_"), stem)
    if backend == "creo":
        from cadfinder.bridge import creo_backend

        b = settings.bridge
        return creo_backend.open_in_creo(genome, b.creoson_url, b.creo_start_command, b.creo_working_dir,
                                         new_part_number=new_part_number, version=b.creo_version)
    raise CadfinderError(f"unknown bridge backend {backend!r}: use creo or cadquery")


def check(settings) -> str:
    """A one-line report on the configured backend (raises CreoError when Creo is unreachable)."""
    if settings.bridge.backend == "cadquery":
        import cadquery

        return f"open kernel ready: CadQuery {cadquery.__version__} (STEP/STL export)"
    from cadfinder.bridge.creoson import CreosonClient

    client = CreosonClient(settings.bridge.creoson_url, timeout_s=10)
    client.connect()
    try:
        running = client.call("connection", "is_creo_running").get("running")
    finally:
        client.disconnect()
    return (f"CREOSON at {settings.bridge.creoson_url}: connected; Creo "
            + ("is running" if running else "is not running (it will be started with the start command)"))
