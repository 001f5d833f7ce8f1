"""Losing the database for a while (issue 13): nodes keep authenticating from their caches,
management writes fail at once with 503 id 9008, /readyz answers 503, and everything works
again once the database is back.

Runs its own cluster (tests/pg/pg_cluster.py), since it stops it: pg.test_outage.
"""

import os
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ['GATEHOUSE_TEST_STORE'] = 'postgres'

from tests.http import harness  # noqa: E402
from tests.http.harness import E_BAD_TOKEN, unique  # noqa: E402
from tests.pg import pg_cluster  # noqa: E402

E_STORE_UNAVAILABLE = (503, 9008, 'Store Unavailable')
RECOVERY_S = 10.0


def installed():
    try:
        return pg_cluster.find_bindir() is not None
    except pg_cluster.PgNotInstalled:
        return False


@unittest.skipUnless(installed(), pg_cluster.NOT_INSTALLED)
class DatabaseOutageTests(harness.GatehouseTestCase):

    @classmethod
    def setUpClass(cls):
        cls.cluster_root = Path(tempfile.mkdtemp(prefix='gatehouse-outage-'))
        cls.cluster = pg_cluster.PgCluster(cls.cluster_root / 'cluster')
        cls.cluster.start()
        os.environ['GATEHOUSE_TEST_PG_DIR'] = str(cls.cluster.directory)
        try:
            super().setUpClass()
        except Exception:
            cls.cluster.remove()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.cluster.remove()
            cls.cluster_root.rmdir()

    def wait_for(self, probe, what, timeout_s=RECOVERY_S):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if probe():
                return
            time.sleep(0.05)
        self.fail(f'{what} within {timeout_s} s')

    def test_while_the_database_is_down_tokens_authenticate_and_writes_are_503_id_9008(self):
        working = self.create_org_token()
        blocked = self.create_org_token()
        self.ok(self.request('PUT', f'/v2/organization/tokens/{blocked["id"]}',
                             body={'status': 'blocked'}, token=self.org_token))
        self.assertTokenRejected(blocked['secret'])

        # A clean shutdown: the test cluster runs with synchronous_commit=off, so a crash
        # (mode immediate) could take back commits acknowledged before it.
        self.cluster.stop_server(mode='fast')
        try:
            # The cache answers: nothing usable becomes unusable, nothing blocked usable.
            self.assertTokenWorks(working['secret'])
            self.assertTokenWorks(self.org_token)
            self.assertTokenRejected(blocked['secret'])
            # Writes fail, and fail fast, with their own error id.
            for _ in range(3):
                started = time.monotonic()
                response = self.request('POST', '/v1/organization/project',
                                        body={'name': unique('down')}, token=self.org_token)
                self.assertError(response, E_STORE_UNAVAILABLE)
                self.assertLess(time.monotonic() - started, 1.0)
            self.assertNotIn('postgres', str(response.body).lower())
            self.assertEqual(self.request('GET', '/readyz').status, 503)
            self.assertEqual(self.request('GET', '/healthz').status, 200)
            self.assertTokenWorks(working['secret'])
        finally:
            self.cluster.start_again()

        self.wait_for(lambda: self.request('GET', '/readyz').status == 200,
                      '/readyz answered 200 again')
        project = self.create_project()
        token = self.create_project_token(project['projectId'])
        self.wait_for(lambda: self.token_works(token['secret']),
                      'a token created after the outage worked')
        self.assertTokenRejected(blocked['secret'])


if __name__ == '__main__':
    unittest.main()
