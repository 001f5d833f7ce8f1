"""Issue 12, items 4 and 8: gatehouse refuses to start on a lost or foreign database, on a data
directory it cannot write, and on a master key others can read; what it creates is private."""

import os
import shutil
import sqlite3
import stat
import subprocess
import tempfile
import unittest
from pathlib import Path

from .harness import CLI_TIMEOUT_S, HOST, Server, binary_path, free_port

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

    def run_gatehouse(self, *args, data_dir=None, env=None):
        argv = [str(binary_path())] + list(args) + ['--data-dir', str(data_dir or self.data_dir)]
        if args[0] == 'serve':
            argv += ['--listen', f'{HOST}:{free_port()}']
        full_env = dict(os.environ)
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
        for suffix in ('', '-wal', '-shm'):
            Path(str(self.db) + suffix).unlink(missing_ok=True)

    # --- item 4 ---------------------------------------------------------------------------
    def test_serve_refuses_a_missing_database_beside_an_existing_master_key(self):
        admin_before = self.admin.read_text()
        self.remove_database()
        done = self.run_gatehouse('serve')
        self.assertRefused(done, self.db, 'missing', self.key)
        self.assertEqual(self.admin.read_text(), admin_before, 'admin.token was overwritten')
        self.assertFalse(self.db.exists() and self.db.stat().st_size > 0)

    def test_serve_refuses_an_empty_database_beside_an_existing_master_key(self):
        self.remove_database()
        self.db.write_bytes(b'')
        done = self.run_gatehouse('serve')
        self.assertRefused(done, self.db, 'empty')

    def test_serve_refuses_a_master_key_that_does_not_match_the_database(self):
        self.key.write_text(os.urandom(32).hex() + '\n')
        os.chmod(self.key, 0o600)
        done = self.run_gatehouse('serve')
        self.assertRefused(done, self.key, self.db, 'does not match')

    def test_serve_refuses_a_foreign_key_given_in_the_environment(self):
        done = self.run_gatehouse('serve', env={'GATEHOUSE_MASTER_KEY': os.urandom(32).hex()})
        self.assertRefused(done, 'GATEHOUSE_MASTER_KEY', self.db, 'does not match')

    def test_serve_refuses_a_foreign_key_for_a_database_from_before_key_check_values(self):
        with sqlite3.connect(self.db) as db:
            db.execute("DELETE FROM settings WHERE key = 'master_key_check'")
        db.close()
        self.key.write_text(os.urandom(32).hex() + '\n')
        os.chmod(self.key, 0o600)
        done = self.run_gatehouse('serve')
        self.assertRefused(done, self.key, self.db, 'does not match')

    def test_operator_commands_refuse_a_missing_database(self):
        self.remove_database()
        done = self.run_gatehouse('org', 'list')
        self.assertRefused(done, self.db)
        self.assertFalse(self.db.exists(), 'org list created a database')

    def test_init_refuses_a_directory_holding_a_master_key_unless_forced(self):
        self.remove_database()
        done = self.run_gatehouse('init', '--json')
        self.assertRefused(done, self.db, self.key, '--force')
        forced = self.run_gatehouse('init', '--json', '--force')
        self.assertEqual(forced.returncode, 0, forced.stderr)
        self.assertIn(b'gto_', forced.stdout)
        # The forced installation starts.
        self.assertEqual(self.run_gatehouse('org', 'list').returncode, 0)

    def test_init_on_a_really_new_directory_needs_no_force(self):
        fresh = Path(tempfile.mkdtemp(prefix='gatehouse-http-')) / 'nested' / 'data'
        self.addCleanup(shutil.rmtree, fresh.parent.parent, True)
        done = self.run_gatehouse('init', '--json', data_dir=fresh)
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
                              stdin=subprocess.DEVNULL)
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
        done = self.run_gatehouse('init', '--json', data_dir=data_dir)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(mode_of(data_dir), 0o700)
        self.assertIn('gatehouse.db', [p.name for p in data_dir.iterdir()])
        for path in data_dir.iterdir():
            with self.subTest(file=path.name):
                self.assertEqual(mode_of(path), 0o600, path)

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

    def test_a_database_left_world_readable_is_narrowed_to_0600(self):
        os.chmod(self.db, 0o644)
        self.server.start()
        try:
            self.assertEqual(mode_of(self.db), 0o600)
        finally:
            self.server.stop()


if __name__ == '__main__':
    unittest.main()
