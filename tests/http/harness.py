"""Black-box harness: runs the real gatehouse binary and talks HTTP to it.

Only loopback addresses are used, every wait is bounded, and each server gets its own
temporary data directory that is removed when the server is stopped (kept when the
environment variable GATEHOUSE_KEEP_DATA is set, for post-mortems).

With GATEHOUSE_TEST_STORE=postgres (the http_pg.* CTest entries) each server also gets its own
fresh database in the test cluster of GATEHOUSE_TEST_PG_DIR (tests/pg/pg_cluster.py), passed to
init, serve and the CLI as GATEHOUSE_STORE, and dropped when the server is cleaned up.
"""

import base64
import functools
import http.client
import itertools
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
import unittest
import uuid
from collections import namedtuple
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode

from ..pg import pg_cluster
from .fake_upstream import FakeUpstream

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / 'build' / 'release' / 'gatehouse'

HOST = '127.0.0.1'
# Set by the asan preset's CTest entries: the binary runs under ASan and UBSan, several times
# slower and with a larger, different memory footprint.
SANITIZED = bool(os.environ.get('GATEHOUSE_SANITIZED'))


def skip_when_sanitized(reason):
    """Skips a load or memory test under ASan/UBSan, where `reason` makes it meaningless."""
    return unittest.skipIf(SANITIZED, f'under ASan/UBSan: {reason}')

# The store every Server uses: 'sqlite' (gatehouse.db in its data directory, the default) or
# 'postgres' (a fresh database per Server in the cluster of GATEHOUSE_TEST_PG_DIR).
STORE = os.environ.get('GATEHOUSE_TEST_STORE') or 'sqlite'
if STORE not in ('sqlite', 'postgres'):
    raise RuntimeError(f'GATEHOUSE_TEST_STORE must be sqlite or postgres, not {STORE!r}')
ON_POSTGRES = STORE == 'postgres'


def sqlite_only(reason):
    """Skips a test or a whole class on PostgreSQL, visibly, with reason: for tests that open,
    seed or damage DATA_DIR/gatehouse.db themselves."""
    return unittest.skipIf(ON_POSTGRES, f'SQLite only: {reason}')


def postgres_only(reason):
    """Skips a test or a whole class on SQLite, visibly, with reason: for the PostgreSQL side of
    a rule whose SQLite side is a test of its own."""
    return unittest.skipUnless(ON_POSTGRES, f'PostgreSQL only: {reason}')


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
HTTP_TIMEOUT_S = 10.0
# What `serve` logs once it listens, with the port it bound.
LISTENING_RE = re.compile(rb'listening on ' + re.escape(HOST.encode()) + rb':(\d+) ')
# API.md does not bound how fast a CLI change reaches a running server; the issue says
# ~3 s, the tests allow 5 s.
PROPAGATION_TIMEOUT_S = 5.0

UUID4_RE = re.compile(r'^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$')
TIMESTAMP_RE = re.compile(r'^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$')
SECRET_RE = re.compile(r'^gt[op]_[0-9A-Za-z]{49}$')
ORG_SECRET_RE = re.compile(r'^gto_[0-9A-Za-z]{49}$')
PROJECT_SECRET_RE = re.compile(r'^gtp_[0-9A-Za-z]{49}$')
ADMIN_SECRET_RE = re.compile(r'^gts_[0-9A-Za-z]{49}$')

# API.md section 2, as (HTTP status, id, description).
E_NO_KEY = (401, 5, 'Api Key Not Found')
E_BAD_TOKEN = (401, 6, 'ApiToken not found or blocked')
E_SCOPE = (403, 7, 'ApiToken out of scope')
E_BAD_INPUT = (400, 20, 'Bad Input Text')
E_PROJECT_NOT_FOUND = (404, 2005, 'Project Not Found')
E_TOKEN_NOT_FOUND = (404, 9004, 'ApiToken Not Found')
E_BAD_ENDPOINT = (404, 404, 'Bad Endpoint')
E_METHOD = (405, 405, 'Method Not Allowed')
E_PROJECT_EXISTS = (409, 2029, 'Project name already exists')
E_TOKEN_EXISTS = (409, 9001, 'ApiToken name already exists')
E_LAST_ORG_TOKEN = (409, 9003,
                    'The last active organization ApiToken cannot be blocked or revoked')
E_TOO_LARGE = (413, 413, 'Payload Too Large')
E_CONTENT_TYPE = (415, 9005, 'Content-Type must be application/json')
E_ASSISTANT_NOT_FOUND = (404, 1, 'Assistant Not Found')
E_ASSISTANT_EXISTS = (409, 2030, 'Assistant name already exists')
E_BAD_GATEWAY = (502, 502, 'Bad Gateway')
E_PROVIDER_TIMEOUT = (504, 100, 'Provider Request Timeout')


def e_range(field):
    return (400, 8, f'Field {field} is out of range')


def e_required(field):
    return (400, 9, f'Field {field} is required')


def e_pattern(field):
    return (400, 11, f'Field {field} does not match the specified pattern')


Response = namedtuple('Response', 'status headers body')

_counter = itertools.count(1)


def unique(prefix):
    """A name no other test uses: prefix, a counter and a random suffix (lower-case)."""
    return f'{prefix}-{next(_counter):03d}-{uuid.uuid4().hex[:6]}'


def binary_path():
    configured = os.environ.get('GATEHOUSE_BIN')
    if not configured:
        return DEFAULT_BIN
    path = Path(configured)
    if path.is_absolute() or path.exists():
        return path.resolve()
    return (REPO_ROOT / path).resolve()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def basic_auth(secret):
    return 'Basic ' + base64.b64encode(f'{secret}:'.encode()).decode()


def wait_until(predicate, timeout_s, interval_s=0.1):
    """Polls predicate until truthy or timeout_s has passed; returns its last value."""
    deadline = time.monotonic() + timeout_s
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval_s)
        value = predicate()
    return value


def http_request(port, method, path, body=None, token=None, headers=None, raw_body=None,
                 content_type='application/json', connection=None):
    """One HTTP request to 127.0.0.1:port. body (dict/list) is sent as JSON, raw_body as bytes.

    Returns Response(status, headers, body) where body is the parsed JSON, or the text when
    the reply is not JSON ('' when empty). A given http.client connection is reused, not closed.
    """
    send_headers = {}
    payload = None
    if raw_body is not None:
        payload = raw_body
    elif body is not None:
        payload = json.dumps(body, ensure_ascii=False).encode('utf-8')
    if payload is not None and content_type is not None:
        send_headers['Content-Type'] = content_type
    if token is not None:
        send_headers['Authorization'] = f'Bearer {token}'
    if headers:
        send_headers.update(headers)
    conn = connection or http.client.HTTPConnection(HOST, port, timeout=HTTP_TIMEOUT_S)
    try:
        conn.request(method, path, body=payload, headers=send_headers)
        reply = conn.getresponse()
        data = reply.read()
        reply_headers = reply.headers
        status = reply.status
    finally:
        if connection is None:
            conn.close()
    text = data.decode('utf-8', errors='replace')
    parsed = text
    if text.strip():
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text
    return Response(status, reply_headers, parsed)


def read_response(stream):
    """Reads one HTTP/1.1 response (Content-Length or chunked) from a binary file object.

    Returns (status, headers with lower-case names, body bytes).
    """
    status_line = stream.readline()
    if not status_line:
        raise AssertionError('connection closed before a response')
    status = int(status_line.split()[1])
    headers = {}
    for _ in range(200):
        line = stream.readline()
        if line in (b'\r\n', b'\n', b''):
            break
        key, _sep, value = line.decode('latin-1').partition(':')
        headers[key.strip().lower()] = value.strip()
    if 'content-length' in headers:
        body = stream.read(int(headers['content-length']))
    elif headers.get('transfer-encoding', '').lower() == 'chunked':
        body = b''
        for _ in range(100000):
            size = int(stream.readline().split(b';')[0].strip(), 16)
            if size == 0:
                stream.readline()
                break
            body += stream.read(size)
            stream.readline()
    else:
        raise AssertionError(f'response without a length: {status} {headers}')
    return status, headers, body


def raw_exchange(port, data, count):
    """Sends data in one write on a fresh connection and reads count responses."""
    with socket.create_connection((HOST, port), timeout=HTTP_TIMEOUT_S) as sock:
        sock.sendall(data)
        stream = sock.makefile('rb')
        return [read_response(stream) for _ in range(count)]


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
                                 '@sqlite_only(reason) (tests/http/harness.py)')
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


class GatehouseTestCase(unittest.TestCase):
    """Starts one initialised server per test class (or per test with server_per_test).

    Subclasses may set serve_args (extra `serve` flags), serve_env (extra environment
    variables of the serve process) and override server_config() (TOML text for --config).
    """

    serve_args = ()
    serve_env = None
    server_per_test = False
    maxDiff = None

    @classmethod
    def server_config(cls):
        return None

    @staticmethod
    def _start_server(holder, serve_args):
        holder.server = Server(serve_args=serve_args, env=holder.serve_env,
                               config_text=holder.server_config())
        try:
            holder.server.start()
        except BaseException:
            holder.server.cleanup()
            raise
        holder.org_id = holder.server.org_id
        holder.org_token = holder.server.org_token
        holder.org_token_id = holder.server.org_token_id
        holder.admin_token = holder.server.admin_token

    @staticmethod
    def _stop_server(holder):
        code = holder.server.stop()
        tail = holder.server.log_tail()
        log = holder.server.log_text() if SANITIZED else ''
        holder.server.cleanup()
        if code != 0:
            raise AssertionError(f'gatehouse serve exited with {code!r} after SIGTERM '
                                 f'(expected 0); log tail:\n{tail}')
        # Belt and braces: a report is fatal (ASAN_OPTIONS/UBSAN_OPTIONS), but a server that
        # was killed and restarted could leave one only in its log.
        for marker in ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:'):
            if marker in log:
                start = log.index(marker)
                raise AssertionError(f'sanitizer report in the server log:\n'
                                     f'{log[max(0, start - 200):start + 4000]}')

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not cls.server_per_test:
            cls._start_server(cls, cls.serve_args)

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        if not cls.server_per_test:
            cls._stop_server(cls)

    def setUp(self):
        super().setUp()
        if self.server_per_test:
            self._start_server(self, self.serve_args)
            self.addCleanup(self._stop_server, self)

    # --- HTTP ----------------------------------------------------------------------------
    def request(self, method, path, body=None, token=None, headers=None, raw_body=None,
                content_type='application/json', connection=None):
        return self.server.request(method, path, body=body, token=token, headers=headers,
                                   raw_body=raw_body, content_type=content_type,
                                   connection=connection)

    def get(self, path, token=None, **kw):
        return self.request('GET', path, token=self.org_token if token is None else token, **kw)

    def ok(self, response, status=200):
        """Asserts the status and returns the body."""
        self.assertEqual(response.status, status, f'unexpected reply: {response.body!r}')
        return response.body

    # --- assertions ----------------------------------------------------------------------
    def assertError(self, response, error, msg=None):
        """The reply is the API.md section 2 envelope carrying exactly this error row."""
        status, error_id, description = error
        context = f'{msg + ": " if msg else ""}reply {response.status} {response.body!r}'
        self.assertEqual(response.status, status, context)
        self.assertIsInstance(response.body, dict, context)
        errors = response.body.get('errors')
        self.assertIsInstance(errors, list, f'"errors" must be an array; {context}')
        self.assertTrue(errors, f'"errors" must not be empty; {context}')
        items = [(e.get('id'), e.get('description')) for e in errors if isinstance(e, dict)]
        self.assertIn((error_id, description), items, context)

    def assertOneOfErrors(self, response, errors, msg=None):
        """Where API.md allows more than one row: the reply must be one of them."""
        for error in errors:
            try:
                self.assertError(response, error)
                return
            except AssertionError:
                pass
        self.fail(f'{msg + ": " if msg else ""}expected one of {errors}, got '
                  f'{response.status} {response.body!r}')

    def assertUuid4(self, value, msg=None):
        self.assertIsInstance(value, str, msg)
        self.assertRegex(value, UUID4_RE, msg)

    def assertTimestamp(self, value, msg=None):
        self.assertIsInstance(value, str, msg)
        self.assertRegex(value, TIMESTAMP_RE, msg)

    def assertTokenWorks(self, secret, msg=None):
        response = self.request('GET', '/v1/accessControl/apitoken/validate', token=secret)
        self.assertEqual(response.status, 200, f'{msg or "token should work"}: {response.body!r}')
        return response.body

    def assertTokenRejected(self, secret, msg=None):
        response = self.request('GET', '/v1/accessControl/apitoken/validate', token=secret)
        self.assertError(response, E_BAD_TOKEN, msg)

    def token_works(self, secret):
        return self.request('GET', '/v1/accessControl/apitoken/validate',
                            token=secret).status == 200

    # --- fixtures through the API --------------------------------------------------------
    def create_project(self, name=None, token=None, **fields):
        body = {'name': name or unique('proj')}
        body.update(fields)
        return self.ok(self.request('POST', '/v1/organization/project', body=body,
                                    token=token or self.org_token))

    def create_project_token(self, project_id, name=None, token=None, **fields):
        body = {'name': name or unique('ptok')}
        body.update(fields)
        return self.ok(self.request('POST', '/v2/projects/tokens', body=body,
                                    token=token or self.org_token,
                                    headers={'project-id': project_id}))

    def create_org_token(self, name=None, token=None, **fields):
        body = {'name': name or unique('otok')}
        body.update(fields)
        return self.ok(self.request('POST', '/v2/organization/tokens', body=body,
                                    token=token or self.org_token))

    def create_organization(self, name=None):
        return self.ok(self.request('POST', '/v2/admin/organizations',
                                    body={'name': name or unique('org')},
                                    token=self.admin_token))

    def snapshot(self, token=None):
        """Everything a bad request could have changed, as seen through the API."""
        token = token or self.org_token
        projects = self.ok(self.get('/v1/organization/projects?detail=full', token=token))
        tokens = {}
        for status in ('all', 'revoked'):
            listing = self.ok(self.get(
                f'/v2/tokens?status={status}&pageSize=500&orderKey=timestamp', token=token))
            # lastUsedAt moves with every call, the snapshot's own calls included.
            tokens[status] = [{k: v for k, v in t.items() if k != 'lastUsedAt'}
                              for t in listing['tokens']]
        return {'projects': projects, 'tokens': tokens}


# --- issue 3: providers, assistants, chat, the request log and its export -------------------

# API.md section 4, request export item, in this order (also the CSV header).
EXPORT_FIELDS = ['requestId', 'projectId', 'apiToken', 'apiTokenId', 'assistant', 'intent',
                 'module', 'sessionId', 'model', 'status', 'httpStatus', 'timestamp',
                 'startTimestamp', 'endTimestamp', 'elapsedTimeMs', 'promptTokens',
                 'completionTokens', 'totalTokens', 'cost', 'prompt', 'inputText', 'output',
                 'feedback', 'ragSourcesConsulted']
# The issue says a record is visible in the export within ~2 s; the tests poll up to 3 s.
RECORD_TIMEOUT_S = 3.0
CHAT_PATHS = ('/chat', '/chat/completions', '/v1/chat/completions')

PROVIDER = 'fake'            # the fake upstream with a generous timeout
SLOW_PROVIDER = 'slowfake'   # the same upstream with timeout_ms SLOW_TIMEOUT_MS
KEY_ENV = 'GATEHOUSE_TEST_FAKE_API_KEY'
SLOW_KEY_ENV = 'GATEHOUSE_TEST_SLOW_API_KEY'
PROVIDER_TIMEOUT_MS = 10000
SLOW_TIMEOUT_MS = 1000
# USD per million (input, output) tokens, per provider and model.
PRICES = {
    PROVIDER: {'echo': (2.5, 10.0), 'stream': (1.25, 5.0), 'stream-no-usage': (3.0, 15.0),
               'slow-stream': (1.0, 2.0), 'cut-stream': (1.0, 2.0), 'fail-500': (1.0, 2.0),
               'garbage': (1.0, 2.0)},
    SLOW_PROVIDER: {'hang': (1.0, 2.0), 'echo': (0.5, 1.5)},
}


def provider_config(base_url, prices=None):
    """The [[providers]] TOML of API.md section 11 for the fake upstream at base_url."""
    prices = prices or PRICES
    settings = {PROVIDER: (KEY_ENV, PROVIDER_TIMEOUT_MS),
                SLOW_PROVIDER: (SLOW_KEY_ENV, SLOW_TIMEOUT_MS)}
    lines = []
    for provider, models in prices.items():
        key_env, timeout_ms = settings[provider]
        lines += ['[[providers]]', f'name = "{provider}"', f'base_url = "{base_url}"',
                  f'api_key_env = "{key_env}"', f'timeout_ms = {timeout_ms}', '']
        for model, (price_in, price_out) in models.items():
            lines += ['[[providers.models]]', f'name = "{model}"',
                      f'input_usd_per_mtok = {price_in!r}',
                      f'output_usd_per_mtok = {price_out!r}', '']
    return '\n'.join(lines)


def expected_costs(provider, model, prompt_tokens, completion_tokens):
    """(prompt_cost, completion_cost, total_cost) in USD: tokens x price / 1e6."""
    price_in, price_out = PRICES[provider][model]
    prompt_cost = prompt_tokens * price_in / 1e6
    completion_cost = completion_tokens * price_out / 1e6
    return prompt_cost, completion_cost, prompt_cost + completion_cost


class ChatStream:
    """A streamed chat call: status and headers at once, then data: events as they arrive."""

    def __init__(self, port, path, body, token, headers=None, timeout_s=HTTP_TIMEOUT_S):
        self.started_at = time.monotonic()
        self.conn = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
        send = {'Content-Type': 'application/json', 'Authorization': f'Bearer {token}'}
        send.update(headers or {})
        self.conn.request('POST', path, body=json.dumps(body).encode(), headers=send)
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.headers = self.response.headers
        self.error = None

    def events(self, limit=10000):
        """Yields (monotonic arrival time, text after 'data:') for every data line."""
        for _ in range(limit):
            try:
                line = self.response.readline()
            except (http.client.HTTPException, OSError, ValueError) as error:
                self.error = error  # e.g. a chunked body cut short
                return
            if not line:
                return
            text = line.decode('utf-8', 'replace').rstrip('\r\n')
            if text.startswith('data:'):
                yield time.monotonic(), text[5:].strip()

    def read_all(self):
        """All data events until the stream ends (or breaks: then self.error is set)."""
        return list(self.events())

    def reply(self):
        """For a non-stream reply (an error): Response(status, headers, parsed JSON body)."""
        data = self.response.read().decode('utf-8', 'replace')
        try:
            body = json.loads(data) if data.strip() else data
        except ValueError:
            body = data
        return Response(self.status, self.headers, body)

    def close(self):
        try:
            if self.conn.sock is not None:
                self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()


class hybridmethod:
    """Like classmethod, but bound to the instance when called on one (so that fixtures work
    both in setUpClass and in server_per_test classes, where the server is per instance)."""

    def __init__(self, function):
        self.function = function
        self.__doc__ = function.__doc__

    def __get__(self, obj, owner):
        return functools.partial(self.function, owner if obj is None else obj)


class GatewayTestCase(GatehouseTestCase):
    """A GatehouseTestCase whose server is configured with providers pointing at a fake
    OpenAI-compatible upstream (fake_upstream.py) started for the class."""

    upstream = None

    @classmethod
    def setUpClass(cls):
        cls.upstream = FakeUpstream().start()
        cls.api_key = f'sk-fake-{uuid.uuid4().hex}{uuid.uuid4().hex[:8]}'
        cls.slow_api_key = f'sk-slow-{uuid.uuid4().hex}{uuid.uuid4().hex[:8]}'
        cls.serve_env = {KEY_ENV: cls.api_key, SLOW_KEY_ENV: cls.slow_api_key}
        try:
            super().setUpClass()
        except BaseException:
            cls.upstream.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        server = cls.__dict__.get('server') or getattr(cls, 'server', None)
        log = server.log_text() if isinstance(server, Server) else ''
        try:
            super().tearDownClass()
        finally:
            cls.upstream.stop()
        for secret in (cls.api_key, cls.slow_api_key):
            if secret in log:
                raise AssertionError(f'{cls.__name__}: a provider API key appeared in the '
                                     'server log')

    @classmethod
    def server_config(cls):
        return provider_config(cls.upstream.base_url)

    # --- fixtures (class methods, usable from setUpClass) -------------------------------
    @hybridmethod
    def make_project(cls, name=None):
        """A project and its Default token: .project_id, .project_name, .token (secret),
        .token_name, .token_id."""
        response = cls.server.request('POST', '/v1/organization/project',
                                      body={'name': name or unique('gw-proj')},
                                      token=cls.server.org_token)
        if response.status != 200:
            raise AssertionError(f'creating a project: {response.status} {response.body!r}')
        token = response.body['tokens'][0]
        return SimpleNamespace(project_id=response.body['projectId'],
                               project_name=response.body['projectName'],
                               token=token['secret'], token_name=token['name'],
                               token_id=token['id'])

    @hybridmethod
    def make_token(cls, project_id, name=None):
        """Another project token: .token (secret), .token_name, .token_id."""
        response = cls.server.request('POST', '/v2/projects/tokens',
                                      body={'name': name or unique('gw-tok')},
                                      token=cls.server.org_token,
                                      headers={'project-id': project_id})
        if response.status != 200:
            raise AssertionError(f'creating a token: {response.status} {response.body!r}')
        return SimpleNamespace(token=response.body['secret'], token_name=response.body['name'],
                               token_id=response.body['id'], project_id=project_id)

    @hybridmethod
    def assistant_body(cls, name=None, prompt='You are a careful test assistant.',
                       provider=PROVIDER, model='echo', temperature=0.25, max_tokens=321,
                       description='made by the tests'):
        return {'name': name or unique('bot'), 'description': description, 'prompt': prompt,
                'llmSettings': {'providerName': provider, 'modelName': model,
                                'temperature': temperature, 'maxTokens': max_tokens}}

    @hybridmethod
    def make_assistant(cls, token, **fields):
        body = cls.assistant_body(**fields)
        response = cls.server.request('POST', '/v1/assistant', body=body, token=token)
        if response.status != 200:
            raise AssertionError(f'creating an assistant: {response.status} {response.body!r}')
        return response.body

    @hybridmethod
    def call_chat(cls, token, model, text=None, messages=None, path='/v1/chat/completions',
                  session=None, extra=None, headers=None):
        body = {'model': model,
                'messages': messages if messages is not None else
                [{'role': 'user', 'content': text or unique('hello')}]}
        body.update(extra or {})
        send = dict(headers or {})
        if session is not None:
            send['saia-conversation-id'] = session
        return cls.server.request('POST', path, body=body, token=token, headers=send)

    # --- instance helpers ---------------------------------------------------------------
    def chat(self, token, model, **kw):
        return self.call_chat(token, model, **kw)

    def stream_chat(self, token, model, text=None, messages=None, path='/v1/chat/completions',
                    session=None, extra=None):
        body = {'model': model, 'stream': True,
                'messages': messages if messages is not None else
                [{'role': 'user', 'content': text or unique('hello')}]}
        body.update(extra or {})
        headers = {'saia-conversation-id': session} if session is not None else None
        return ChatStream(self.server.port, path, body, token, headers)

    def export(self, token=None, **params):
        """GET /v1/organization/request/export with these query parameters (None dropped)."""
        query = urlencode({k: v for k, v in params.items() if v is not None})
        path = '/v1/organization/request/export' + (f'?{query}' if query else '')
        return self.request('GET', path, token=token or self.org_token)

    def export_raw(self, token=None, **params):
        """The export as Response(status, headers, body text), never parsed."""
        query = urlencode({k: v for k, v in params.items() if v is not None})
        path = '/v1/organization/request/export' + (f'?{query}' if query else '')
        conn = http.client.HTTPConnection(HOST, self.server.port, timeout=HTTP_TIMEOUT_S)
        try:
            conn.request('GET', path,
                         headers={'Authorization': f'Bearer {token or self.org_token}'})
            reply = conn.getresponse()
            data = reply.read()
            return Response(reply.status, reply.headers, data.decode('utf-8', 'replace'))
        finally:
            conn.close()

    def export_items(self, token=None, **params):
        body = self.ok(self.export(token, **params))
        self.assertIsInstance(body, dict, f'export reply is not a JSON object: {body!r}')
        self.assertIsInstance(body.get('items'), list, f'no "items" array: {body!r}')
        return body['items']

    def wait_items(self, predicate, count, token=None, timeout_s=RECORD_TIMEOUT_S, **params):
        """Polls the export until count items satisfy predicate; returns those items."""
        found = []

        def probe():
            nonlocal found
            found = [i for i in self.export_items(token, **params) if predicate(i)]
            return len(found) >= count

        wait_until(probe, timeout_s, 0.1)
        self.assertGreaterEqual(len(found), count,
                                f'only {len(found)} of {count} records in the export '
                                f'after {timeout_s} s')
        return found

    def wait_record(self, session, token=None, settle_s=0.3, **params):
        """The one record whose sessionId is session: waits for it, then checks that no
        second record with that sessionId appears within settle_s."""
        self.wait_items(lambda i: i.get('sessionId') == session, 1, token, **params)
        time.sleep(settle_s)
        found = [i for i in self.export_items(token, **params) if i.get('sessionId') == session]
        self.assertEqual(len(found), 1, f'expected exactly one record for session {session}, '
                                        f'got {found!r}')
        return found[0]

    def assertCost(self, actual, expected, msg=None):
        self.assertIsInstance(actual, (int, float), msg)
        self.assertAlmostEqual(actual, expected, delta=max(1e-12, abs(expected) * 1e-9),
                               msg=msg)

    def assertNoSecretIn(self, text, msg=None):
        """Neither provider key appears in text (a reply or the server log)."""
        for secret in (self.api_key, self.slow_api_key):
            self.assertNotIn(secret, text, msg or 'a provider API key leaked')
