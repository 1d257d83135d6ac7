"""A primary and hot standbys of the embedded server's PostgreSQL 18 binaries on loopback ports,
set up as installer/server/README.md tells an admin to: a replication login and one physical
replication slot per standby (installer/server/replication.sql), pg_basebackup -R -S SLOT, and
`pg_ctl promote` when the primary is lost. Plain TCP with passwords (TLS is covered by
tests/shared_server.py)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

from tests.shared_server import SUPERUSER_PASSWORD, SharedServer, _bin, _run_as_server_user

REPLICATION_PASSWORD = "replication-secret-test"
SQL = Path(__file__).resolve().parent.parent / "installer" / "server" / "replication.sql"


class Standby(SharedServer):
    """A hot standby cloned from `primary` with pg_basebackup; started by start()."""

    def __init__(self, folder: Path, primary: SharedServer, slot: str):
        super().__init__(folder)
        self.primary, self.slot = primary, slot

    def start(self) -> "Standby":
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.user:
            os.chmod(self.folder, 0o777)
        source = (f"host=127.0.0.1 port={self.primary.port} user=replicator password={REPLICATION_PASSWORD} "
                  f"application_name={self.slot}")
        # -c fast: start at once instead of waiting for a spread checkpoint (minutes after CREATE
        # DATABASE); standby.sh keeps the spread one, gentler on a primary in service.
        _run_as_server_user([_bin("pg_basebackup"), "-d", source, "-D", str(self.pgdata), "-X", "stream", "-S",
                             self.slot, "-R", "-c", "fast"], self.user)
        with open(self.pgdata / "postgresql.conf", "a") as f:
            f.write(f"\nport = {self.port}\n")
        self.pg_ctl("start")
        return self

    def kill(self) -> None:
        """SIGKILL the standby's postmaster (a machine lost)."""
        pid = int((self.pgdata / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        try:
            self.pg_ctl("stop", "-m", "immediate")
        except subprocess.CalledProcessError:
            pass


class Cluster:
    """One primary, n standbys streaming from it through replication slots."""

    def __init__(self, folder: Path, standbys: int = 2):
        self.primary = SharedServer(folder / "primary")
        self.folder, self.n = folder, standbys
        self.standbys: list[Standby] = []

    def start(self) -> "Cluster":
        p = self.primary.start()
        p.wait()
        with open(p.pgdata / "pg_hba.conf", "a") as f:
            f.write("host replication replicator 127.0.0.1/32 scram-sha-256\n")
        p.pg_ctl("reload")
        slots = ",".join(f"standby{i + 1}" for i in range(self.n))
        self.psql_file(SQL, password=REPLICATION_PASSWORD, slots=slots)
        p.psql("CREATE DATABASE cadfinder")
        for i in range(self.n):
            self.standbys.append(Standby(self.folder / f"standby{i + 1}", p, f"standby{i + 1}").start())
        for s in self.standbys:
            s.wait()
        return self

    def psql_file(self, path: Path, dbname: str = "postgres", **variables) -> None:
        env = dict(os.environ, PGPASSWORD=SUPERUSER_PASSWORD)
        args = [_bin("psql"), "-h", "127.0.0.1", "-p", str(self.primary.port), "-U", "postgres", "-d", dbname,
                "-v", "ON_ERROR_STOP=1"]
        for k, v in variables.items():
            args += ["-v", f"{k}={v}"]
        subprocess.run([*args, "-f", str(path)], check=True, capture_output=True, env=env)

    def uri(self, user: str, password: str) -> str:
        """A multi-host URI over every server; libpq's target_session_attrs is left to cadfinder
        (prefer-standby for a designer, read-write for an admin)."""
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in [self.primary, *self.standbys])
        return f"postgresql://{user}:{password}@{hosts}/cadfinder?connect_timeout=3"

    def stop(self) -> None:
        for s in self.standbys:
            s.stop()
            shutil.rmtree(s.folder, ignore_errors=True)
        self.primary.stop()

