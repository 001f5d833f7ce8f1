#!/usr/bin/env python3
"""A throwaway PostgreSQL cluster for the tests (Python standard library only).

    python3 tests/pg/pg_cluster.py start DIR   initdb in DIR/data, start on a free loopback
                                               port, write DIR/url
    python3 tests/pg/pg_cluster.py stop DIR    stop it (immediate) and remove DIR
    python3 tests/pg/pg_cluster.py url DIR     print the url of a running cluster

The cluster trusts every local connection as user `gatehouse` on 127.0.0.1 only, and runs with
fsync, synchronous_commit and full_page_writes off: fast, and lost entirely on a crash, which is
what a test cluster should be. DIR/url holds `postgresql://gatehouse@127.0.0.1:PORT/postgres`.

initdb refuses to run as root, so as root every server command runs as the user `postgres`
(`runuser -u postgres --`) and DIR belongs to it; as any other user they run as that user. When
`postgres` cannot reach DIR (a checkout under /root, mode 0700), the server's files go to a
mkdtemp directory under /tmp instead, named in DIR/server-dir; DIR/url stays where it was.
Without PostgreSQL's server binaries (Debian: postgresql-15) `start` exits with 77, which the
CTest fixture declares as its SKIP_RETURN_CODE: the fixture shows as Skipped, never silently.

CTest's fixture pg_cluster_start / pg_cluster_stop (tests/CMakeLists.txt) runs this for every
entry with FIXTURES_REQUIRED pg and passes DIR as GATEHOUSE_TEST_PG_DIR; the HTTP harness
(tests/http/server.py) and the C++ PgTestDatabase (tests/unit/pg_test_database.h) read DIR/url.
"""

import glob
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

SKIP_EXIT_CODE = 77
NOT_INSTALLED = ('PostgreSQL not installed: run scripts/setup '
                 '(Debian packages postgresql-15 postgresql-contrib postgresql-client-15)')
HOST = '127.0.0.1'
USER = 'gatehouse'
SERVICE_USER = 'postgres'
START_ATTEMPTS = 5
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30
PSQL_TIMEOUT_S = 60
# A Unix socket path is at most 107 bytes; longer socket directories get no Unix socket (the
# tests only use TCP; the socket is for a developer's `psql -h DIR`).
MAX_SOCKET_DIR_LEN = 90
SERVER_SETTINGS = ('fsync=off', 'synchronous_commit=off', 'full_page_writes=off',
                   'max_connections=300')


class PgNotInstalled(Exception):
    pass


def _version_key(path):
    match = re.search(r'/postgresql/(\d+)(?:\.(\d+))?/bin/', path)
    return (int(match.group(1)), int(match.group(2) or 0)) if match else (0, 0)


def find_bindir():
    """The directory of the newest installed initdb/pg_ctl/postgres, or None.

    GATEHOUSE_TEST_PG_BINDIR overrides. Not `pg_config --bindir`: libpq-dev's pg_config reports
    the client's bindir (/usr/bin), where Debian has no initdb.
    """
    configured = os.environ.get('GATEHOUSE_TEST_PG_BINDIR')
    if configured:
        return Path(configured) if (Path(configured) / 'initdb').exists() else None
    found = sorted(glob.glob('/usr/lib/postgresql/*/bin/initdb'), key=_version_key)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which('initdb')
    if initdb and shutil.which('pg_ctl'):
        return Path(initdb).resolve().parent
    return None


def find_client(name='psql'):
    """A client program (psql, pg_dump): /usr/bin/NAME (postgresql-client), else the server's
    bindir."""
    for candidate in (shutil.which(name), f'/usr/bin/{name}'):
        if candidate and Path(candidate).exists():
            return candidate
    bindir = find_bindir()
    if bindir and (bindir / name).exists():
        return str(bindir / name)
    raise PgNotInstalled(NOT_INSTALLED)


def find_psql():
    return find_client('psql')


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def read_url(directory):
    """DIR/url of a started cluster, or None when there is none (e.g. the fixture skipped)."""
    try:
        return (Path(directory) / 'url').read_text().strip() or None
    except OSError:
        return None


def database_url(url, name):
    """url with its database replaced by name (user, host, port and parameters kept)."""
    match = re.match(r'^(postgres(?:ql)?://[^/?]*)(?:/[^?]*)?(\?.*)?$', url)
    if not match:
        raise ValueError(f'not a postgresql:// url: {url}')
    return f'{match.group(1)}/{name}{match.group(2) or ""}'


def _check_name(name):
    if not re.fullmatch(r'[a-z_][a-z0-9_]{0,62}', name):
        raise ValueError(f'database name must match [a-z_][a-z0-9_]*: {name!r}')


def psql(url, sql, timeout_s=PSQL_TIMEOUT_S):
    """Runs sql (one statement or several) on url with psql; returns stdout (unaligned,
    tuples only). Raises RuntimeError with psql's message on failure."""
    done = subprocess.run([find_psql(), '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
                           '-d', url, '-c', sql],
                          capture_output=True, timeout=timeout_s, env=_client_env(),
                          stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError(f'psql exited {done.returncode} on {sql!r}: '
                           f'{done.stderr.decode(errors="replace").strip()}')
    return done.stdout.decode()


def _client_env():
    env = dict(os.environ)
    env.setdefault('PGCONNECT_TIMEOUT', '10')
    return env


def _csv_field(value):
    """value as one field of COPY ... (FORMAT csv, NULL '\\N'): None is NULL, text is quoted."""
    if value is None:
        return '\\N'
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (int, float)):
        return repr(value)
    return '"' + str(value).replace('"', '""') + '"'


def _csv_lines(rows, batch_rows=1000):
    """rows as CSV text for COPY, in blocks of batch_rows lines."""
    batch = []
    for row in rows:
        batch.append(','.join(_csv_field(v) for v in row))
        if len(batch) == batch_rows:
            yield ('\n'.join(batch) + '\n').encode()
            batch = []
    if batch:
        yield ('\n'.join(batch) + '\n').encode()


def copy_rows(url, table, columns, rows, timeout_s=PSQL_TIMEOUT_S):
    """Inserts rows (tuples in the order of columns) into table with one COPY through psql,
    streamed, in one transaction. Raises RuntimeError with psql's message on failure."""
    statement = (f'COPY {table} ({", ".join(columns)}) FROM STDIN '
                 "WITH (FORMAT csv, NULL '\\N')")
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen([find_psql(), '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', url,
                                    '-c', statement], stdin=subprocess.PIPE,
                                   stdout=subprocess.DEVNULL, stderr=errors, env=_client_env())
        try:
            try:
                for block in _csv_lines(rows):
                    process.stdin.write(block)
            except BrokenPipeError:
                pass  # psql gave up early; its message below says why
            finally:
                try:
                    process.stdin.close()
                except BrokenPipeError:
                    pass
            code = process.wait(timeout=timeout_s)
        except BaseException:
            process.kill()
            process.wait()
            raise
        errors.seek(0)
        if code != 0:
            raise RuntimeError(f'psql exited {code} on {statement!r}: '
                               f'{errors.read().decode(errors="replace").strip()}')


def dump(url, timeout_s=PSQL_TIMEOUT_S):
    """pg_dump of the database at url (plain SQL, data included) as bytes: what an operator's
    backup of it holds. bytea values appear as hex (\\x...)."""
    done = subprocess.run([find_client('pg_dump'), '--no-owner', '-d', url],
                          capture_output=True, timeout=timeout_s, env=_client_env(),
                          stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError(f'pg_dump exited {done.returncode}: '
                           f'{done.stderr.decode(errors="replace").strip()}')
    return done.stdout


def random_database_name(prefix='gh'):
    return f'{prefix}_{uuid.uuid4().hex[:16]}'


def create_database(url, name=None, template=None):
    """CREATE DATABASE name [TEMPLATE template] through url (the cluster's url, any database
    but the template); returns the new database's url. name defaults to gh_<random hex>."""
    name = name or random_database_name()
    _check_name(name)
    sql = f'CREATE DATABASE {name}'
    if template:
        _check_name(template)
        sql += f' TEMPLATE {template}'
    psql(url, sql)
    return database_url(url, name)


def drop_database(url, name):
    """DROP DATABASE IF EXISTS name WITH (FORCE): connections still open are terminated.
    url must not point at name itself."""
    _check_name(name)
    psql(url, f'DROP DATABASE IF EXISTS {name} WITH (FORCE)')


class PgCluster:
    """One cluster in directory: data in directory/data, the url in directory/url."""

    def __init__(self, directory, bindir=None):
        self.directory = Path(directory).absolute()
        self.url_path = self.directory / 'url'
        self.server_dir_path = self.directory / 'server-dir'
        self._bindir = Path(bindir) if bindir else None
        self.port = None
        # Where the server's files are (data, socket, log): directory itself, unless an
        # earlier start recorded another one.
        self.server_dir = self.directory
        try:
            self.server_dir = Path(self.server_dir_path.read_text().strip())
        except OSError:
            pass

    @property
    def data_dir(self):
        return self.server_dir / 'data'

    @property
    def log_path(self):
        return self.server_dir / 'postgres.log'

    # --- plumbing -------------------------------------------------------------------------
    @property
    def bindir(self):
        if self._bindir is None:
            self._bindir = find_bindir()
            if self._bindir is None:
                raise PgNotInstalled(NOT_INSTALLED)
        return self._bindir

    @staticmethod
    def _as_root():
        return os.geteuid() == 0

    def _run(self, tool, *args, timeout_s=START_TIMEOUT_S, check=True):
        """Runs a server tool (initdb, pg_ctl) as the service user when root."""
        argv = [str(self.bindir / tool), *map(str, args)]
        if self._as_root():
            argv = ['runuser', '-u', SERVICE_USER, '--'] + argv
        # cwd: the service user may not be allowed into the caller's working directory.
        done = subprocess.run(argv, capture_output=True, timeout=timeout_s,
                              cwd=self.server_dir, stdin=subprocess.DEVNULL)
        if check and done.returncode != 0:
            raise RuntimeError(f'{tool} exited {done.returncode}: '
                               f'{(done.stdout + done.stderr).decode(errors="replace").strip()}')
        return done

    @staticmethod
    def _service_user_can_write(directory):
        probe = subprocess.run(['runuser', '-u', SERVICE_USER, '--', 'test', '-w',
                                str(directory)], capture_output=True)
        return probe.returncode == 0

    def _make_directory(self):
        self.directory.mkdir(parents=True)
        # The url must be readable by whoever runs the tests; the data directory itself is
        # 0700 (initdb insists).
        self.directory.chmod(0o755)
        self.server_dir = self.directory
        if not self._as_root():
            return
        shutil.chown(self.directory, SERVICE_USER, SERVICE_USER)
        if self._service_user_can_write(self.directory):
            return
        # A parent directory is closed to the service user: the server lives under /tmp.
        self.server_dir = Path(tempfile.mkdtemp(prefix='gatehouse-pg-'))
        self.server_dir.chmod(0o755)
        shutil.chown(self.server_dir, SERVICE_USER, SERVICE_USER)
        self.server_dir_path.write_text(f'{self.server_dir}\n')
        if not self._service_user_can_write(self.server_dir):
            raise RuntimeError(f'user {SERVICE_USER} can write neither {self.directory} nor '
                               f'{self.server_dir}')

    def _log_tail(self, chars=3000):
        try:
            return self.log_path.read_text(errors='replace')[-chars:]
        except OSError:
            return ''

    def _options(self, port):
        options = ['-c', f'listen_addresses={HOST}', '-p', str(port)]
        socket_dir = str(self.server_dir)
        options += ['-k', socket_dir if len(socket_dir) <= MAX_SOCKET_DIR_LEN else '']
        for setting in SERVER_SETTINGS:
            options += ['-c', setting]
        # pg_ctl hands -o to a shell.
        return ' '.join(shlex.quote(o) for o in options)

    # --- life cycle -----------------------------------------------------------------------
    @property
    def url(self):
        return f'postgresql://{USER}@{HOST}:{self.port}/postgres'

    def running(self):
        return (self.data_dir / 'postmaster.pid').exists()

    def start(self):
        """initdb and start; a directory left by an earlier (killed) run is stopped and
        removed first. Returns the url."""
        self.remove()  # also without PostgreSQL: no test may find a leftover url
        bindir = self.bindir  # PgNotInstalled
        self._make_directory()
        self._run('initdb', '-D', self.data_dir, '-U', USER, '--auth=trust', '-E', 'UTF8',
                  '--locale=C.UTF-8', '--no-sync', '--no-instructions')
        last_error = None
        for _ in range(START_ATTEMPTS):
            port = free_port()
            log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
            done = self._run('pg_ctl', '-D', self.data_dir, '-l', self.log_path, '-w',
                             '-t', START_TIMEOUT_S, '-o', self._options(port), 'start',
                             timeout_s=START_TIMEOUT_S + 10, check=False)
            if done.returncode == 0:
                self.port = port
                self.url_path.write_text(self.url + '\n')
                self.url_path.chmod(0o644)
                return self.url
            log = self._log_tail()
            try:
                log = self.log_path.read_text(errors='replace')[log_start:]
            except OSError:
                pass
            last_error = (f'pg_ctl start (port {port}) exited {done.returncode}: '
                          f'{(done.stdout + done.stderr).decode(errors="replace").strip()}\n'
                          f'{log[-3000:]}')
            if self.running():
                self.stop_server()
            if 'could not bind' not in log and 'already in use' not in log:
                break  # not a port taken meanwhile: retrying will not help
        raise RuntimeError(f'PostgreSQL ({bindir}) did not start: {last_error}')

    def start_again(self):
        """Starts the server stopped by stop_server again, on its old port (a database that
        went away and came back)."""
        self._run('pg_ctl', '-D', self.data_dir, '-l', self.log_path, '-w', '-t', START_TIMEOUT_S,
                  '-o', self._options(self.port), 'start', timeout_s=START_TIMEOUT_S + 10)

    def stop_server(self, mode='immediate'):
        """pg_ctl -m MODE stop (SIGQUIT to the postmaster when pg_ctl is unavailable); waits
        until the postmaster has exited. Mode fast is a clean shutdown; immediate is a crash,
        which with this cluster's settings (synchronous_commit=off) may lose recent commits."""
        if not self.running():
            return
        try:
            done = self._run('pg_ctl', '-D', self.data_dir, '-m', mode, '-w',
                             '-t', STOP_TIMEOUT_S, 'stop', timeout_s=STOP_TIMEOUT_S + 10,
                             check=False)
            if done.returncode == 0 or not self.running():
                return
        except (PgNotInstalled, OSError, subprocess.TimeoutExpired):
            pass
        self._signal_postmaster()

    def _signal_postmaster(self):
        try:
            pid = int((self.data_dir / 'postmaster.pid').read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        for sig in (signal.SIGQUIT, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + STOP_TIMEOUT_S / 2
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.05)

    def remove(self):
        """Stops the server if it runs and removes its directories (idempotent)."""
        if self.server_dir.exists():
            self.stop_server()
        if self.server_dir != self.directory:
            shutil.rmtree(self.server_dir, ignore_errors=True)
            self.server_dir = self.directory
        if self.directory.exists():
            shutil.rmtree(self.directory)

    stop = remove


def main(argv):
    usage = f'usage: {Path(argv[0]).name} start|stop|url DIR'
    if len(argv) != 3 or argv[1] not in ('start', 'stop', 'url'):
        print(usage, file=sys.stderr)
        return 2
    command, directory = argv[1], argv[2]
    cluster = PgCluster(directory)
    try:
        if command == 'start':
            started = time.monotonic()
            url = cluster.start()
            print(f'pg_cluster: {url} (PostgreSQL in {cluster.bindir}, data in '
                  f'{cluster.data_dir}, {time.monotonic() - started:.1f} s)')
        elif command == 'stop':
            cluster.remove()
            print(f'pg_cluster: stopped and removed {cluster.directory}')
        else:
            url = read_url(directory)
            if url is None:
                print(f'pg_cluster: no cluster in {directory}', file=sys.stderr)
                return 1
            print(url)
    except PgNotInstalled as e:
        print(f'pg_cluster: {e}', file=sys.stderr)
        return SKIP_EXIT_CODE
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        print(f'pg_cluster: {command} failed: {e}', file=sys.stderr)
        if command == 'start':
            try:
                cluster.remove()
            except (RuntimeError, OSError, subprocess.SubprocessError):
                pass
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
