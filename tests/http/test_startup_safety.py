"""Issue 12, items 4 and 8: gatehouse refuses to start on a lost or foreign database, on a data
directory it cannot write, and on a master key others can read; what it creates is private.

On PostgreSQL the database is the store named by GATEHOUSE_STORE: a lost one is a dropped
database (SQLite: gatehouse.db deleted) or one without tables (an empty gatehouse.db)."""

import os
import shutil
import stat
import subprocess
import tempfile
import unittest
from pathlib import Path

from ..pg import pg_cluster
from .harness import HOST, ON_POSTGRES, Server, binary_path, free_port, sqlite_only

# A serve that refuses to start exits at once; one that starts is stopped after this long.
REFUSAL_TIMEOUT_S = 10.0


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class StartupSafetyTests(unittest.TestCase):
    """Each test gets an initialized installation whose server is not running."""

    def setUp(self):
        self.server = Server()
        self.addCleanup(self.server.cleanup)
        self.server.init()
        self.data_dir = self.server.data_dir
        self.db = self.data_dir / 'gatehouse.db'
        self.key = self.data_dir / 'master.key'
        self.admin = self.data_dir / 'admin.token'
        # What messages about the database name: its file, or its url on PostgreSQL.
        self.store = self.server.store_url if ON_POSTGRES else self.db

    def run_gatehouse(self, *args, data_dir=None, env=None):
        argv = [str(binary_path())] + list(args) + ['--data-dir', str(data_dir or self.data_dir)]
        if args[0] == 'serve':
            argv += ['--listen', f'{HOST}:{free_port()}']
        full_env = self.server.cli_env()
        full_env.pop('GATEHOUSE_MASTER_KEY', None)
        full_env.update(env or {})
        try:
            return subprocess.run(argv, capture_output=True, timeout=REFUSAL_TIMEOUT_S,
                                  env=full_env, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            self.fail(f'gatehouse {" ".join(args)} kept running: it did not refuse to start')

    def assertRefused(self, done, *needles):
        self.assertNotEqual(done.returncode, 0, done.stdout)
        text = done.stderr.decode(errors='replace')
        for needle in needles:
            self.assertIn(str(needle), text)
        self.assertNotIn(b'gto_', done.stdout, 'a refused start printed an organization secret')

    def remove_database(self):
        if ON_POSTGRES:
            pg_cluster.drop_database(*self.server.database)
            return
        for suffix in ('', '-wal', '-shm'):
            Path(str(self.db) + suffix).unlink(missing_ok=True)

    def empty_database(self):
        """A database without the installation's tables (SQLite: an empty gatehouse.db)."""
        self.remove_database()
        if ON_POSTGRES:
            pg_cluster.create_database(*self.server.database)
        else:
            self.db.write_bytes(b'')

    def database_exists(self):
        if ON_POSTGRES:
            cluster_url, name = self.server.database
            return pg_cluster.psql(cluster_url, 'SELECT 1 FROM pg_database '
                                                f"WHERE datname = '{name}'").strip() == '1'
        return self.db.exists()

    def fresh_store_env(self):
        """The environment for an installation of its own: on PostgreSQL a new, empty database
        (dropped at the end of the test)."""
        if not ON_POSTGRES:
            return {}
        cluster_url, _name = self.server.database
        name = pg_cluster.random_database_name('gh_http')
        url = pg_cluster.create_database(cluster_url, name)
        self.addCleanup(pg_cluster.drop_database, cluster_url, name)
        return {'GATEHOUSE_STORE': url}

    # --- item 4 ---------------------------------------------------------------------------
    def test_serve_refuses_a_missing_database_beside_an_existing_master_key(self):
        admin_before = self.admin.read_text()
        self.remove_database()
        done = self.run_gatehouse('serve')
        if ON_POSTGRES:
            self.assertRefused(done, self.store, 'does not exist')
            self.assertFalse(self.database_exists())
        else:
            self.assertRefused(done, self.db, 'missing', self.key)
            self.assertFalse(self.db.exists() and self.db.stat().st_size > 0)
        self.assertEqual(self.admin.read_text(), admin_before, 'admin.token was overwritten')

    def test_serve_refuses_an_empty_database_beside_an_existing_master_key(self):
        admin_before = self.admin.read_text()
        self.empty_database()
        done = self.run_gatehouse('serve')
        self.assertRefused(done, self.store, 'empty')
        self.assertEqual(self.admin.read_text(), admin_before, 'admin.token was overwritten')

    def test_serve_refuses_a_master_key_that_does_not_match_the_database(self):
        self.key.write_text(os.urandom(32).hex() + '\n')
        os.chmod(self.key, 0o600)
        done = self.run_gatehouse('serve')
        self.assertRefused(done, self.key, self.store, 'does not match')

    def test_serve_refuses_a_foreign_key_given_in_the_environment(self):
        done = self.run_gatehouse('serve', env={'GATEHOUSE_MASTER_KEY': os.urandom(32).hex()})
        self.assertRefused(done, 'GATEHOUSE_MASTER_KEY', self.store, 'does not match')

    def test_serve_refuses_a_foreign_key_for_a_database_from_before_key_check_values(self):
        self.server.store_execute("DELETE FROM settings WHERE key = 'master_key_check'")
        self.key.write_text(os.urandom(32).hex() + '\n')
        os.chmod(self.key, 0o600)
        done = self.run_gatehouse('serve')
        self.assertRefused(done, self.key, self.store, 'does not match')

    def test_operator_commands_refuse_a_missing_database(self):
        self.remove_database()
        done = self.run_gatehouse('org', 'list')
        self.assertRefused(done, self.store)
        self.assertFalse(self.database_exists(), 'org list created a database')

    def test_init_refuses_a_directory_holding_a_master_key_unless_forced(self):
        if ON_POSTGRES:
            self.empty_database()  # a dropped one cannot be initialized at all
        else:
            self.remove_database()
        done = self.run_gatehouse('init', '--json')
        self.assertRefused(done, self.store, self.key, '--force')
        forced = self.run_gatehouse('init', '--json', '--force')
        self.assertEqual(forced.returncode, 0, forced.stderr)
        self.assertIn(b'gto_', forced.stdout)
        # The forced installation starts.
        self.assertEqual(self.run_gatehouse('org', 'list').returncode, 0)

    def test_init_on_a_really_new_directory_needs_no_force(self):
        fresh = Path(tempfile.mkdtemp(prefix='gatehouse-http-')) / 'nested' / 'data'
        self.addCleanup(shutil.rmtree, fresh.parent.parent, True)
        done = self.run_gatehouse('init', '--json', data_dir=fresh, env=self.fresh_store_env())
        self.assertEqual(done.returncode, 0, done.stderr)

    def test_read_only_data_directory_gets_a_message_naming_it(self):
        probe = subprocess.run(['unshare', '--mount', 'true'], capture_output=True)
        if probe.returncode != 0:
            self.skipTest('needs unshare --mount (root) to mount the data directory read-only')
        script = ('mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && '
                  'exec "$@"')
        argv = ['unshare', '--mount', 'sh', '-c', script, 'sh', str(self.data_dir),
                str(binary_path()), 'serve', '--data-dir', str(self.data_dir),
                '--listen', f'{HOST}:{free_port()}']
        done = subprocess.run(argv, capture_output=True, timeout=REFUSAL_TIMEOUT_S,
                              stdin=subprocess.DEVNULL, env=self.server.cli_env())
        self.assertRefused(done, self.data_dir, 'read-only')

    # --- item 8 ---------------------------------------------------------------------------
    def test_serve_refuses_a_master_key_readable_by_others(self):
        os.chmod(self.key, 0o644)
        done = self.run_gatehouse('serve')
        self.assertRefused(done, self.key, '0644', 'chmod 600')

    def test_new_data_directory_is_0700_and_its_files_0600(self):
        root = Path(tempfile.mkdtemp(prefix='gatehouse-http-'))
        self.addCleanup(shutil.rmtree, root, True)
        data_dir = root / 'data'  # does not exist yet: init creates it
        done = self.run_gatehouse('init', '--json', data_dir=data_dir,
                                  env=self.fresh_store_env())
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(mode_of(data_dir), 0o700)
        names = [p.name for p in data_dir.iterdir()]
        if ON_POSTGRES:
            self.assertNotIn('gatehouse.db', names)
            self.assertIn('master.key', names)
        else:
            self.assertIn('gatehouse.db', names)
        for path in data_dir.iterdir():
            with self.subTest(file=path.name):
                self.assertEqual(mode_of(path), 0o600, path)

    @sqlite_only('gatehouse.db, its -wal and -shm are SQLite\'s files; PostgreSQL keeps none in '
                 'DATA_DIR (the modes of master.key and admin.token: the test above)')
    def test_database_wal_and_shm_of_a_running_server_are_0600(self):
        # The harness's data directory existed before init: its own mode is the operator's.
        self.server.start()
        try:
            for suffix in ('', '-wal', '-shm'):
                path = Path(str(self.db) + suffix)
                with self.subTest(file=path.name):
                    self.assertTrue(path.exists(), path)
                    self.assertEqual(mode_of(path), 0o600)
            self.assertEqual(mode_of(self.key), 0o600)
            self.assertEqual(mode_of(self.admin), 0o600)
        finally:
            self.server.stop()

    @sqlite_only('the modes of a PostgreSQL database\'s files are the cluster\'s, not gatehouse\'s')
    def test_a_database_left_world_readable_is_narrowed_to_0600(self):
        os.chmod(self.db, 0o644)
        self.server.start()
        try:
            self.assertEqual(mode_of(self.db), 0o600)
        finally:
            self.server.stop()


if __name__ == '__main__':
    unittest.main()
