"""API.md section 3 and 6: secret format, secrets at rest, reveal and rotate."""

from concurrent.futures import ThreadPoolExecutor
import time

from ..pg import pg_cluster
from .harness import (E_BAD_TOKEN, E_TOKEN_NOT_FOUND, ORG_SECRET_RE, PROJECT_SECRET_RE,
                      SECRET_RE, GatehouseTestCase, Server, e_range, sqlite_only, wait_until)


class SecretFormatTests(GatehouseTestCase):

    def test_project_secrets_match_gtp_format(self):
        project = self.create_project()
        self.assertRegex(project['tokens'][0]['secret'], PROJECT_SECRET_RE)
        token = self.create_project_token(project['projectId'])
        self.assertRegex(token['secret'], PROJECT_SECRET_RE)
        self.assertEqual(len(token['secret']), 4 + 43 + 6)

    def test_organization_secrets_match_gto_format(self):
        self.assertRegex(self.org_token, ORG_SECRET_RE)
        self.assertRegex(self.create_org_token()['secret'], ORG_SECRET_RE)

    def test_secrets_differ_every_time_and_are_never_the_token_id(self):
        project = self.create_project()
        tokens = [self.create_project_token(project['projectId']) for _ in range(4)]
        tokens += [self.create_org_token() for _ in range(2)]
        secrets = [t['secret'] for t in tokens] + [project['tokens'][0]['secret']]
        self.assertEqual(len(set(secrets)), len(secrets))
        self.assertEqual(len({s[4:47] for s in secrets}), len(secrets))
        for token in tokens:
            self.assertNotEqual(token['secret'], token['id'])
            self.assertNotIn(token['id'], token['secret'])
            self.assertNotIn(token['id'].replace('-', ''), token['secret'])

    def test_secret_prefix_is_the_first_8_characters(self):
        project = self.create_project()
        token = self.create_project_token(project['projectId'])
        self.assertEqual(token['secretPrefix'], token['secret'][:8])
        listed = self.ok(self.get(f'/v1/organization/project/{project["projectId"]}/tokens'))
        prefixes = {t['id']: t['secretPrefix'] for t in listed['tokens']}
        self.assertEqual(prefixes[token['id']], token['secret'][:8])
        self.assertEqual(prefixes[project['tokens'][0]['id']], project['tokens'][0]['secret'][:8])

    def test_store_and_log_never_hold_a_secret(self):
        project = self.create_project()
        secrets = [self.org_token, project['tokens'][0]['secret']]
        token = self.create_project_token(project['projectId'])
        secrets.append(token['secret'])
        secrets.append(self.create_org_token()['secret'])
        revealed = self.ok(self.request('POST', f'/v2/tokens/{token["id"]}/reveal', body={},
                                        token=self.org_token))
        self.assertEqual(revealed['secret'], token['secret'])
        for secret in secrets:
            self.assertTokenWorks(secret)
        files = [p for p in self.server.data_dir.rglob('*')
                 if p.is_file() and p.name != 'admin.token']
        files.append(self.server.log_path)
        held = [(path.name, path.read_bytes()) for path in files]
        if self.server.on_postgres:
            # Every row of the database, as a backup holds it; bytea columns come as hex.
            dump = pg_cluster.dump(self.server.store_url)
            self.assertIn(b'COPY public.api_tokens', dump)
            held.append(('pg_dump', dump))
        else:
            db = self.server.data_dir / 'gatehouse.db'
            self.assertTrue(db.exists(), f'{db} does not exist')
            self.assertIn(db, files)
        for name, data in held:
            for secret in secrets:
                with self.subTest(file=name, secret=secret[:8]):
                    self.assertNotIn(secret.encode(), data)
                    self.assertNotIn(secret[4:47].encode(), data)
                    self.assertNotIn(secret[4:47].encode().hex().encode(), data)

    @sqlite_only('the write-ahead log of a PostgreSQL store is the cluster\'s, not in DATA_DIR')
    def test_wal_file_does_not_hold_a_secret(self):
        secret = self.create_org_token()['secret']
        wal = self.server.data_dir / 'gatehouse.db-wal'
        for path in (wal, self.server.data_dir / 'gatehouse.db'):
            if path.exists():
                self.assertNotIn(secret[4:47].encode(), path.read_bytes(), path.name)


class RevealTests(GatehouseTestCase):

    def reveal(self, token_id, token=None):
        return self.request('POST', f'/v2/tokens/{token_id}/reveal', body={},
                            token=token or self.org_token)

    def test_reveal_returns_the_same_secret_for_project_and_organization_tokens(self):
        project = self.create_project()
        default = project['tokens'][0]
        extra = self.create_project_token(project['projectId'])
        org = self.create_org_token()
        for token in (default, extra, org):
            with self.subTest(name=token['name']):
                self.assertEqual(self.ok(self.reveal(token['id'])), {'secret': token['secret']})
        self.assertEqual(self.ok(self.reveal(self.org_token_id)), {'secret': self.org_token})

    def test_reveal_of_unknown_token_is_404_id_9004(self):
        self.assertError(self.reveal('5f1d3c2a-9b8e-4c7d-8a6b-1e2f3a4b5c6d'), E_TOKEN_NOT_FOUND)


class RotateTests(GatehouseTestCase):

    def setUp(self):
        self.project = self.create_project()
        self.token = self.create_project_token(self.project['projectId'])

    def rotate(self, grace, token_id=None):
        return self.request('POST', f'/v2/tokens/{token_id or self.token["id"]}/rotate',
                            body={'graceSeconds': grace}, token=self.org_token)

    def test_rotate_returns_the_token_with_a_new_secret(self):
        body = self.ok(self.rotate(0))
        self.assertEqual(body['id'], self.token['id'])
        self.assertEqual(body['name'], self.token['name'])
        self.assertRegex(body['secret'], PROJECT_SECRET_RE)
        self.assertNotEqual(body['secret'], self.token['secret'])
        self.assertEqual(body['secretPrefix'], body['secret'][:8])
        self.assertTokenWorks(body['secret'])
        revealed = self.ok(self.request('POST', f'/v2/tokens/{self.token["id"]}/reveal',
                                        body={}, token=self.org_token))
        self.assertEqual(revealed['secret'], body['secret'])

    def test_rotate_with_grace_keeps_the_old_secret_for_the_grace_period(self):
        started = time.monotonic()
        body = self.ok(self.rotate(2))
        self.assertTokenWorks(body['secret'], 'new secret at once')
        self.assertTokenWorks(self.token['secret'], 'old secret during the grace period')
        self.assertLess(time.monotonic() - started, 2.0, 'machine too slow to test the grace')
        time.sleep(2.0)
        gone = wait_until(lambda: not self.token_works(self.token['secret']), 4.0)
        self.assertTrue(gone, 'old secret still works long after its grace period')
        self.assertTokenRejected(self.token['secret'])
        self.assertTokenWorks(body['secret'])

    def test_rotate_with_zero_grace_rejects_the_old_secret_at_once(self):
        body = self.ok(self.rotate(0))
        self.assertTokenRejected(self.token['secret'])
        self.assertTokenWorks(body['secret'])

    def test_rotate_organization_token(self):
        org = self.create_org_token()
        body = self.ok(self.rotate(0, org['id']))
        self.assertRegex(body['secret'], ORG_SECRET_RE)
        self.assertEqual(body['scope'], 'Organization')
        self.assertError(self.get('/v1/organization/projects', token=org['secret']),
                         E_BAD_TOKEN)
        self.ok(self.get('/v1/organization/projects', token=body['secret']))

    def test_grace_seconds_out_of_range_is_400_id_8_and_keeps_the_secret(self):
        for grace in (86401, -1):
            with self.subTest(graceSeconds=grace):
                self.assertError(self.rotate(grace), e_range('graceSeconds'))
        self.assertTokenWorks(self.token['secret'])
        revealed = self.ok(self.request('POST', f'/v2/tokens/{self.token["id"]}/reveal',
                                        body={}, token=self.org_token))
        self.assertEqual(revealed['secret'], self.token['secret'])

    def test_grace_seconds_86400_is_accepted(self):
        body = self.ok(self.rotate(86400))
        self.assertTokenWorks(self.token['secret'])
        self.assertTokenWorks(body['secret'])


class CacheResyncRaceTests(GatehouseTestCase):
    """A cache resync running while this node changes a token must not undo the change: it may
    have read the token's row before the change committed (a server of its own, since the
    revocations below make the address throttle refuse later failed authentications)."""

    def setUp(self):
        self.project = self.create_project()

    def rotate(self, token_id):
        return self.request('POST', f'/v2/tokens/{token_id}/rotate', body={'graceSeconds': 0},
                            token=self.org_token)

    def test_a_rotated_secret_works_at_once_even_while_the_cache_resyncs(self):
        # Creations and rotations from four clients keep the cache resyncing (on PostgreSQL at
        # every change, by NOTIFY); a resync that read a token before its rotation committed
        # must not put the old secret back.
        def rotate_new_tokens(rounds):
            refused = 0
            for _ in range(rounds):
                token = self.create_project_token(self.project['projectId'])
                rotated = self.ok(self.rotate(token['id']))
                refused += self.request('GET', '/v1/accessControl/apitoken/validate',
                                        token=rotated['secret']).status != 200
            return refused

        with ThreadPoolExecutor(4) as pool:
            refused = sum(pool.map(rotate_new_tokens, [50] * 4))
        self.assertEqual(refused, 0, 'rotated secrets refused right after their rotation')

    def test_a_revoked_token_stays_refused_even_while_the_cache_resyncs(self):
        # The same race for a revocation: a resync must not bring a revoked token back.
        def revoke_new_tokens(rounds):
            accepted = 0
            for _ in range(rounds):
                token = self.create_project_token(self.project['projectId'])
                self.ok(self.request('DELETE', f'/v2/projects/tokens/{token["id"]}',
                                     token=self.org_token))
                accepted += self.request('GET', '/v1/accessControl/apitoken/validate',
                                         token=token['secret']).status == 200
            return accepted

        with ThreadPoolExecutor(4) as pool:
            accepted = sum(pool.map(revoke_new_tokens, [50] * 4))
        self.assertEqual(accepted, 0, 'revoked tokens accepted right after their revocation')


class RevealNeverTests(GatehouseTestCase):
    serve_args = ('--reveal', 'never')

    def test_reveal_is_404_id_9004_when_reveal_is_never(self):
        project = self.create_project()
        self.assertRegex(project['tokens'][0]['secret'], PROJECT_SECRET_RE)
        token = self.create_project_token(project['projectId'])
        for token_id in (token['id'], project['tokens'][0]['id'], self.org_token_id):
            with self.subTest(token_id=token_id):
                response = self.request('POST', f'/v2/tokens/{token_id}/reveal', body={},
                                        token=self.org_token)
                self.assertError(response, E_TOKEN_NOT_FOUND)
        self.assertTokenWorks(token['secret'])

    def test_rotate_still_returns_the_new_secret_once(self):
        project = self.create_project()
        body = self.ok(self.request('POST', f'/v2/tokens/{project["tokens"][0]["id"]}/rotate',
                                    body={'graceSeconds': 0}, token=self.org_token))
        self.assertRegex(body['secret'], SECRET_RE)
        self.assertTokenWorks(body['secret'])


class RevealNeverStoreTests(GatehouseTestCase):
    """Runs its own server so that it can stop it and read the store file afterwards."""

    @classmethod
    def setUpClass(cls):
        cls.server = None  # no shared server

    @classmethod
    def tearDownClass(cls):
        pass

    def test_no_sealed_copy_is_kept_when_reveal_is_never(self):
        server = Server(serve_args=('--reveal', 'never'))
        try:
            server.start()
            org = server.org_token
            project = server.request('POST', '/v1/organization/project',
                                     body={'name': 'sealed-check'}, token=org)
            self.assertEqual(project.status, 200, project.body)
            reply = server.request('POST', '/v2/projects/tokens', body={'name': 'second'},
                                   headers={'project-id': project.body['projectId']}, token=org)
            self.assertEqual(reply.status, 200, reply.body)
            reply = server.request('POST', '/v2/organization/tokens', body={'name': 'ops'},
                                   token=org)
            self.assertEqual(reply.status, 200, reply.body)
            self.assertEqual(server.stop(), 0, 'serve must exit 0 on SIGTERM')
            rows = server.store_rows('SELECT sealed_secret FROM api_tokens')
            self.assertGreaterEqual(len(rows), 4)  # init's token, Default, second, ops
            self.assertEqual([r[0] for r in rows], [None] * len(rows))
        finally:
            server.cleanup()

    def test_sealed_copy_is_kept_by_default(self):
        # The control case: without --reveal never the column holds a sealed copy, so the test
        # above proves --reveal never changed something.
        server = Server()
        try:
            server.start()
            reply = server.request('POST', '/v2/organization/tokens', body={'name': 'ops'},
                                   token=server.org_token)
            self.assertEqual(reply.status, 200, reply.body)
            self.assertEqual(server.stop(), 0, 'serve must exit 0 on SIGTERM')
            rows = server.store_rows('SELECT sealed_secret FROM api_tokens')
            self.assertGreaterEqual(len(rows), 2)
            secret = reply.body['secret'][4:47].encode()
            for (sealed,) in rows:
                self.assertIsNotNone(sealed)
                raw = sealed if isinstance(sealed, bytes) else str(sealed).encode()
                self.assertNotIn(secret, raw)
                self.assertNotIn(secret.hex().encode(), raw)  # PostgreSQL's bytea as text
        finally:
            server.cleanup()
