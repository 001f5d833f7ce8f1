"""One gatehouse installation under test: init, serve, stop, the CLI and its store.

With GATEHOUSE_TEST_STORE=postgres (the http_pg.* CTest entries) each server also gets its own
fresh database in the test cluster of GATEHOUSE_TEST_PG_DIR (tests/pg/pg_cluster.py), passed to
init, serve and the CLI as GATEHOUSE_STORE, and dropped when the server is cleaned up.
"""

import http.client
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

from ..pg import pg_cluster
from .client import HOST, http_request

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / 'build' / 'release' / 'gatehouse'

# Set by the asan preset's CTest entries: the binary runs under ASan and UBSan, several times
# slower and with a larger, different memory footprint.
SANITIZED = bool(os.environ.get('GATEHOUSE_SANITIZED'))


# The store every Server uses: 'sqlite' (gatehouse.db in its data directory, the default) or
# 'postgres' (a fresh database per Server in the cluster of GATEHOUSE_TEST_PG_DIR).
STORE = os.environ.get('GATEHOUSE_TEST_STORE') or 'sqlite'
if STORE not in ('sqlite', 'postgres'):
    raise RuntimeError(f'GATEHOUSE_TEST_STORE must be sqlite or postgres, not {STORE!r}')
ON_POSTGRES = STORE == 'postgres'


def postgres_cluster_url():
    """The url of the test cluster (GATEHOUSE_TEST_PG_DIR/url); raises when there is none."""
    directory = os.environ.get('GATEHOUSE_TEST_PG_DIR')
    if not directory:
        raise RuntimeError('GATEHOUSE_TEST_STORE=postgres needs GATEHOUSE_TEST_PG_DIR, the '
                           'directory of a cluster started by tests/pg/pg_cluster.py start DIR '
                           '(ctest sets both)')
    url = pg_cluster.read_url(directory)
    if url is None:
        raise RuntimeError(f'no PostgreSQL cluster in {directory} (no url file): start one '
                           f'with python3 tests/pg/pg_cluster.py start {directory}')
    return url


START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0
CLI_TIMEOUT_S = 30.0

# What `serve` logs once it listens, with the port it bound.
LISTENING_RE = re.compile(rb'listening on ' + re.escape(HOST.encode()) + rb':(\d+) ')


def binary_path():
    configured = os.environ.get('GATEHOUSE_BIN')
    if not configured:
        return DEFAULT_BIN
    path = Path(configured)
    if path.is_absolute() or path.exists():
        return path.resolve()
    return (REPO_ROOT / path).resolve()


class ServerError(Exception):
    pass


class Server:
    """One gatehouse installation (init) and, once started, its serve process."""

    def __init__(self, serve_args=(), env=None, config_text=None, node_of=None):
        """node_of: another Server on PostgreSQL whose database and master key this one shares,
        as a further node of that installation (no init of its own)."""
        self.binary = binary_path()
        self.serve_args = list(serve_args)
        self.env = dict(env or {})  # added to the serve process's environment
        # Added to the environment of init, serve and cli_run: the store (GATEHOUSE_STORE).
        self.store_env = {}
        self.database = None  # on PostgreSQL: (cluster url, database name), when this one owns it
        if node_of is not None:
            if not node_of.store_env:
                raise AssertionError('only installations on PostgreSQL have several nodes')
            self.store_env = dict(node_of.store_env)
            self.env.update(node_of.store_env)
        elif ON_POSTGRES:
            cluster_url = postgres_cluster_url()
            database_url = pg_cluster.create_database(
                cluster_url, pg_cluster.random_database_name('gh_http'))
            self.database = (cluster_url, database_url.rsplit('/', 1)[1])
            self.store_env['GATEHOUSE_STORE'] = database_url
            self.env['GATEHOUSE_STORE'] = database_url
        self.root = Path(tempfile.mkdtemp(prefix='gatehouse-http-'))
        if self.database is not None:
            (self.root / 'store-url').write_text(self.store_env['GATEHOUSE_STORE'] + '\n')
        self.config_path = None
        if config_text is not None:
            self.write_config(config_text)
        self.data_dir = self.root / 'data'
        self.data_dir.mkdir()
        self.log_path = self.root / 'serve.log'
        self.process = None
        self.port = None
        self.init_info = None
        self.admin_token = None
        self.exit_code = None
        if node_of is not None:
            key = self.data_dir / 'master.key'
            shutil.copyfile(node_of.data_dir / 'master.key', key)
            key.chmod(0o600)
            self.init_info = node_of.init_info
            self.admin_token = node_of.admin_token

    # --- installation --------------------------------------------------------------------
    def init(self):
        if not self.binary.exists():
            raise ServerError(f'gatehouse binary not found at {self.binary} '
                              '(build it or set GATEHOUSE_BIN)')
        done = subprocess.run([str(self.binary), 'init', '--data-dir', str(self.data_dir),
                               '--json'], capture_output=True, timeout=CLI_TIMEOUT_S,
                              env=self.cli_env())
        if done.returncode != 0:
            raise ServerError(f'gatehouse init exited {done.returncode}: '
                              f'{done.stderr.decode(errors="replace")}')
        if self.database is not None and (self.data_dir / 'gatehouse.db').exists():
            raise ServerError('gatehouse init made gatehouse.db although GATEHOUSE_STORE names '
                              'a PostgreSQL database: the run would test SQLite')
        self.init_info = json.loads(done.stdout)
        self.admin_token = (self.data_dir / 'admin.token').read_text().strip()
        return self.init_info

    def write_config(self, text):
        """Writes the TOML file passed to `serve --config` (from the next start on)."""
        self.config_path = self.root / 'gatehouse.toml'
        self.config_path.write_text(text)
        return self.config_path

    def cli_env(self):
        """The environment of a CLI command (init, cli_run) on this installation: the test's
        own plus the store. A test running the binary itself passes env=server.cli_env()."""
        env = dict(os.environ)
        env.update(self.store_env)
        return env

    @property
    def db_path(self):
        if ON_POSTGRES:
            raise AssertionError('on PostgreSQL there is no gatehouse.db: mark the test '
                                 '@sqlite_only(reason) (tests/http/cases.py)')
        return self.data_dir / 'gatehouse.db'

    @property
    def on_postgres(self):
        return 'GATEHOUSE_STORE' in self.store_env

    @property
    def store_url(self):
        """On PostgreSQL: the url of this installation's database (its GATEHOUSE_STORE)."""
        if not self.on_postgres:
            raise AssertionError('on SQLite the store is gatehouse.db (db_path)')
        return self.store_env['GATEHOUSE_STORE']

    # What the store holds, read or changed behind the server's back: through sqlite3 on
    # gatehouse.db, or psql on the PostgreSQL database. The schemas differ; these statements
    # must be valid on both.
    def _open_sqlite(self):
        """gatehouse.db, never created here: a missing one fails."""
        return sqlite3.connect(f'file:{self.db_path}?mode=rw', uri=True, timeout=10)

    def store_execute(self, sql):
        """Runs one SQL statement on this installation's store (committed)."""
        if self.on_postgres:
            pg_cluster.psql(self.store_url, sql)
            return
        db = self._open_sqlite()
        try:
            db.execute(sql)
            db.commit()
        finally:
            db.close()

    def store_rows(self, sql):
        """The rows of one query on this installation's store, as a list of tuples. On
        PostgreSQL a bytea value comes as text: \\x and its hex digits."""
        if self.on_postgres:
            text = pg_cluster.psql(self.store_url,
                                   f"SELECT coalesce(json_agg(q), '[]') FROM ({sql}) q")
            return [tuple(row.values()) for row in json.loads(text)]
        db = self._open_sqlite()
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()

    def store_columns(self, table):
        """The column names of table in this installation's store."""
        if self.on_postgres:
            return [row[0] for row in self.store_rows(
                f"SELECT column_name FROM information_schema.columns WHERE table_name = '{table}' "
                'ORDER BY ordinal_position')]
        return [row[1] for row in self.store_rows(f'PRAGMA table_info({table})')]

    def store_insert(self, table, columns, rows):
        """Inserts rows (tuples in the order of columns) into table in one transaction."""
        if self.on_postgres:
            pg_cluster.copy_rows(self.store_url, table, columns, rows)
            return
        db = self._open_sqlite()
        try:
            with db:
                db.executemany(f'INSERT INTO {table} ({",".join(columns)}) '
                               f'VALUES ({",".join("?" * len(columns))})', rows)
        finally:
            db.close()

    @property
    def org_id(self):
        return self.init_info['organizationId']

    @property
    def org_token(self):
        return self.init_info['apiToken']['secret']

    @property
    def org_token_id(self):
        return self.init_info['apiToken']['id']

    # --- serve process -------------------------------------------------------------------
    def start(self):
        """Starts serve on a port the kernel picks (--listen 127.0.0.1:0) and waits for /healthz.

        Not a port probed beforehand: serve binds with SO_REUSEPORT, so a probed port that another
        module's server took meanwhile would be shared without an error and the requests split
        between the two servers. For port 0 the kernel picks a port nobody uses.
        """
        if self.init_info is None:
            self.init()
        args = [str(self.binary), 'serve', '--data-dir', str(self.data_dir),
                '--listen', f'{HOST}:0'] + self.serve_args
        if self.config_path is not None:
            args += ['--config', str(self.config_path)]
        env = self.cli_env()
        env.update(self.env)
        log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, 'ab')
        try:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=env)
        finally:
            log.close()
        self.port = None
        if self._wait_healthy(log_start):
            return self
        exit_code = self.process.poll()
        if exit_code is None:
            self._kill()
        raise ServerError(f'gatehouse serve did not become healthy (exit code {exit_code}); '
                          f'log:\n{self.log_tail()}')

    def _bound_port(self, log_start):
        """The port this start logged as listening on (the log from log_start on), or None."""
        try:
            with open(self.log_path, 'rb') as log:
                log.seek(log_start)
                match = LISTENING_RE.search(log.read())
        except OSError:
            return None
        return int(match.group(1)) if match else None

    def _wait_healthy(self, log_start):
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            if self.port is None:
                self.port = self._bound_port(log_start)
            try:
                if self.port is not None and self._healthy():
                    return True
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.05)
        return False

    def _healthy(self):
        """True when GET /healthz answers 200 (a subclass may probe another way, e.g. HTTPS)."""
        return http_request(self.port, 'GET', '/healthz').status == 200

    def _kill(self):
        self.process.kill()
        self.process.wait(timeout=STOP_TIMEOUT_S)

    def stop(self):
        """SIGTERM, wait up to 10 s; returns the exit code (idempotent). Kills on timeout."""
        if self.process is None:
            return self.exit_code
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._kill()
                self.exit_code = 'no exit within 10 s of SIGTERM'
                self.process = None
                return self.exit_code
        self.exit_code = self.process.returncode
        self.process = None
        return self.exit_code

    def restart(self):
        """SIGTERM (requires exit code 0), then serve again on the same data directory."""
        code = self.stop()
        if code != 0:
            raise AssertionError(f'gatehouse serve exited with {code!r} after SIGTERM; '
                                 f'log tail:\n{self.log_tail()}')
        return self.start()

    @property
    def pid(self):
        return self.process.pid if self.process is not None else None

    def rss_bytes(self):
        """VmRSS of the serve process from /proc, in bytes."""
        with open(f'/proc/{self.pid}/status') as status:
            for line in status:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1]) * 1024
        raise AssertionError('no VmRSS line in /proc/PID/status')

    def log_text(self):
        try:
            return self.log_path.read_bytes().decode(errors='replace')
        except OSError:
            return ''

    def cleanup(self):
        self.stop()
        if not os.environ.get('GATEHOUSE_KEEP_DATA'):
            shutil.rmtree(self.root, ignore_errors=True)
        if self.database is not None:
            # Even with GATEHOUSE_KEEP_DATA: the cluster goes at the end of the run anyway.
            cluster_url, name = self.database
            self.database = None
            pg_cluster.drop_database(cluster_url, name)

    def log_tail(self, chars=4000):
        try:
            return self.log_path.read_bytes()[-chars:].decode(errors='replace')
        except OSError:
            return ''

    # --- clients -------------------------------------------------------------------------
    def request(self, method, path, body=None, token=None, headers=None, raw_body=None,
                content_type='application/json', connection=None):
        return http_request(self.port, method, path, body=body, token=token, headers=headers,
                            raw_body=raw_body, content_type=content_type,
                            connection=connection)

    def cli_run(self, command, *args, json_out=True):
        """Runs `gatehouse <command> --data-dir DIR <args> [--json]`; returns CompletedProcess."""
        argv = [str(self.binary)] + command.split() + ['--data-dir', str(self.data_dir)]
        argv += [str(a) for a in args]
        if json_out:
            argv.append('--json')
        return subprocess.run(argv, capture_output=True, timeout=CLI_TIMEOUT_S,
                              env=self.cli_env())

    def cli(self, command, *args, json_out=True):
        """Like cli_run but requires exit code 0 and returns the parsed JSON (or stdout text)."""
        done = self.cli_run(command, *args, json_out=json_out)
        if done.returncode != 0:
            raise AssertionError(f'gatehouse {command} {args} exited {done.returncode}: '
                                 f'{done.stderr.decode(errors="replace")}')
        out = done.stdout.decode('utf-8')
        return json.loads(out) if json_out else out
