"""A per-part ingest worker that dies the way a native crash kills a process (tests of the pool's recovery)."""

import json
import os
from pathlib import Path

from cadfinder import ingest


def crash_worker(pf, *args):
    """Dies on the parts CADFINDER_TEST_CRASH names: those under "always" every time, those
    under "once" the first time only (a marker file in "dir" remembers); else ingests normally."""
    plan = json.loads(os.environ["CADFINDER_TEST_CRASH"])
    marker = Path(plan["dir"]) / pf.part_number
    if pf.part_number in plan["always"] or (pf.part_number in plan["once"] and not marker.exists()):
        marker.touch()
        os._exit(3)
    return ingest._safe_process(pf, *args)
