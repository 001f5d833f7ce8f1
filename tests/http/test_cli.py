"""The gatehouse CLI (org, project, token, backup) against a data directory a server is using.

Changes made through the CLI must reach the running server within a few seconds
(harness.PROPAGATION_TIMEOUT_S); changes made over HTTP are visible to the CLI at once.
"""

import sqlite3

from .harness import (ORG_SECRET_RE, PROJECT_SECRET_RE, PROPAGATION_TIMEOUT_S, GatehouseTestCase,
                      postgres_only, sqlite_only, unique, wait_until)


class CliTests(GatehouseTestCase):
    """A fresh installation and server per test, so each CLI rule is judged on its own."""

    server_per_test = True

    def works_soon(self, secret):
        return wait_until(lambda: self.token_works(secret), PROPAGATION_TIMEOUT_S, 0.1)

    def rejected_soon(self, secret):
        return wait_until(lambda: not self.token_works(secret), PROPAGATION_TIMEOUT_S, 0.1)

    def test_org_list_shows_the_default_organization(self):
        body = self.server.cli('org list')
        self.assertIn({'organizationId': self.org_id, 'organizationName': 'Default'},
                      [{k: o[k] for k in ('organizationId', 'organizationName')}
                       for o in body['organizations']])

    def test_org_create_prints_the_organization_and_a_token_that_works(self):
        name = unique('cli-org')
        body = self.server.cli('org create', '--name', name)
        self.assertUuid4(body['organizationId'])
        self.assertEqual(body['organizationName'], name)
        self.assertUuid4(body['apiToken']['id'])
        self.assertEqual(body['apiToken']['name'], 'DefaultOrganization')
        self.assertRegex(body['apiToken']['secret'], ORG_SECRET_RE)
        self.assertTrue(self.works_soon(body['apiToken']['secret']),
                        'a CLI-created organization token did not reach the server in 5 s')
        validated = self.assertTokenWorks(body['apiToken']['secret'])
        self.assertEqual(validated['organizationId'], body['organizationId'])
        names = [o['organizationName'] for o in self.server.cli('org list')['organizations']]
        self.assertIn(name, names)
        listing = self.ok(self.get('/v2/admin/organizations?pageSize=500',
                                   token=self.admin_token))
        self.assertIn(body['organizationId'],
                      [o['organizationId'] for o in listing['organizations']])

    def test_project_create_prints_the_project_and_its_default_token(self):
        name = unique('cli-proj')
        body = self.server.cli('project create', '--org', 'Default', '--name', name,
                               '--description', 'from the cli')
        self.assertUuid4(body['projectId'])
        self.assertEqual(body['projectName'], name)
        self.assertEqual(body['projectDescription'], 'from the cli')
        self.assertEqual(body['organizationId'], self.org_id)
        self.assertEqual(len(body['tokens']), 1)
        token = body['tokens'][0]
        self.assertEqual((token['name'], token['description'], token['status'], token['scope']),
                         ('Default', 'Default token', 'Active', 'Project'))
        self.assertRegex(token['secret'], PROJECT_SECRET_RE)
        self.assertTrue(self.works_soon(token['secret']),
                        'a CLI-created project token did not reach the server in 5 s')
        listing = self.ok(self.get(f'/v1/organization/projects?name={name}'))['projects']
        self.assertEqual([p['projectId'] for p in listing], [body['projectId']])

    def test_project_create_in_an_organization_given_by_id(self):
        org = self.server.cli('org create', '--name', unique('cli-org-id'))
        name = unique('cli-proj')
        body = self.server.cli('project create', '--org', org['organizationId'], '--name', name)
        self.assertEqual(body['organizationId'], org['organizationId'])
        listed = self.server.cli('project list', '--org', org['organizationId'])['projects']
        self.assertEqual([p['projectName'] for p in listed], [name])
        listed = self.server.cli('project list', '--org', org['organizationName'])['projects']
        self.assertEqual([p['projectName'] for p in listed], [name])

    def test_project_list_sees_projects_created_over_http(self):
        project = self.create_project(description='over http')
        listed = self.server.cli('project list', '--org', 'Default')['projects']
        found = [p for p in listed if p['projectId'] == project['projectId']]
        self.assertEqual(len(found), 1)
        self.assertEqual(found[0]['projectName'], project['projectName'])
        self.assertEqual(found[0]['projectDescription'], 'over http')

    def test_token_create_for_a_project_and_for_the_organization(self):
        project = self.create_project()
        name = unique('cli-ptok')
        body = self.server.cli('token create', '--org', 'Default', '--project',
                               project['projectName'], '--name', name)
        self.assertUuid4(body['id'])
        self.assertEqual((body['name'], body['scope'], body['projectId']),
                         (name, 'Project', project['projectId']))
        self.assertRegex(body['secret'], PROJECT_SECRET_RE)
        self.assertTrue(self.works_soon(body['secret']))
        by_id = self.server.cli('token create', '--org', self.org_id,
                                '--project', project['projectId'], '--name', unique('cli-ptok-id'))
        self.assertEqual(by_id['projectId'], project['projectId'])
        org_name = unique('cli-otok')
        org_token = self.server.cli('token create', '--org', 'Default', '--name', org_name)
        self.assertEqual(org_token['scope'], 'Organization')
        self.assertRegex(org_token['secret'], ORG_SECRET_RE)
        self.assertTrue(self.works_soon(org_token['secret']))
        self.ok(self.get('/v1/organization/projects', token=org_token['secret']))

    def test_token_list_shows_tokens_without_secrets(self):
        project = self.create_project()
        token = self.create_project_token(project['projectId'])
        done = self.server.cli_run('token list', '--org', 'Default')
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertNotIn(token['secret'].encode(), done.stdout)
        self.assertNotIn(project['tokens'][0]['secret'].encode(), done.stdout)
        tokens = self.server.cli('token list', '--org', 'Default')['tokens']
        by_id = {t['id']: t for t in tokens}
        self.assertIn(token['id'], by_id)
        self.assertIn(self.org_token_id, by_id)
        self.assertEqual(by_id[token['id']]['name'], token['name'])
        for item in tokens:
            self.assertNotIn('secret', item)

    def test_token_block_unblock_and_revoke_reach_the_running_server(self):
        project = self.create_project()
        token = self.create_project_token(project['projectId'])
        path = f'/v2/projects/tokens/{token["id"]}'
        self.server.cli('token block', token['id'], json_out=False)
        self.assertTrue(self.rejected_soon(token['secret']), 'block did not reach the server')
        self.assertTokenRejected(token['secret'])
        self.assertEqual(self.ok(self.get(path))['status'], 'Blocked')
        self.server.cli('token unblock', token['id'], json_out=False)
        self.assertTrue(self.works_soon(token['secret']), 'unblock did not reach the server')
        self.assertEqual(self.ok(self.get(path))['status'], 'Active')
        self.server.cli('token revoke', token['id'], json_out=False)
        self.assertTrue(self.rejected_soon(token['secret']), 'revoke did not reach the server')
        self.assertEqual(self.ok(self.get(path))['status'], 'Revoked')

    def test_server_keeps_serving_writes_after_a_cli_write(self):
        self.create_project()
        self.server.cli('org create', '--name', unique('cli-write'))
        project = self.create_project()
        self.assertTokenWorks(project['tokens'][0]['secret'])
        self.server.cli('project create', '--org', 'Default', '--name', unique('cli-write'))
        self.create_org_token()

    def test_cli_errors_exit_non_zero(self):
        cases = [
            ('org create',),
            ('project create', '--org', 'no-such-organization', '--name', unique('x')),
            ('token create', '--project', 'no-such-project', '--name', unique('x')),
            ('token block', '6b0d1a9e-2c4f-4e8a-9b1d-3f5e7a9c1b2d'),
        ]
        for case in cases:
            with self.subTest(command=case):
                done = self.server.cli_run(case[0], *case[1:], json_out=case[0] != 'token block')
                self.assertNotEqual(done.returncode, 0, done.stdout)
                self.assertTrue(done.stderr.strip(), 'an error must say what went wrong')

    @sqlite_only('gatehouse backup copies gatehouse.db; PostgreSQL has pg_dump')
    def test_backup_is_an_sqlite_copy_with_the_data(self):
        project = self.create_project()
        token = self.create_project_token(project['projectId'])
        target = self.server.root / 'backup.db'
        self.server.cli('backup', target, json_out=False)
        self.assertTrue(target.exists())
        db = sqlite3.connect(target)
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            self.assertTrue({'organizations', 'projects', 'api_tokens'} <= tables, tables)
            self.assertGreaterEqual(db.execute('SELECT count(*) FROM organizations').fetchone()[0],
                                    1)
            self.assertGreaterEqual(db.execute('SELECT count(*) FROM projects').fetchone()[0], 1)
            self.assertGreaterEqual(db.execute('SELECT count(*) FROM api_tokens').fetchone()[0],
                                    3)
            self.assertEqual(db.execute('PRAGMA integrity_check').fetchone()[0], 'ok')
        finally:
            db.close()
        data = target.read_bytes()
        self.assertIn(project['projectName'].encode(), data)
        self.assertNotIn(token['secret'].encode(), data)
        self.assertNotIn(token['secret'][4:47].encode(), data)

    @postgres_only('the SQLite side is test_backup_is_an_sqlite_copy_with_the_data')
    def test_backup_of_a_postgresql_store_refuses_naming_pg_dump_and_writes_nothing(self):
        target = self.server.root / 'backup.db'
        done = self.server.cli_run('backup', target, json_out=False)
        self.assertNotEqual(done.returncode, 0, done.stdout)
        self.assertIn(b'pg_dump', done.stderr)
        self.assertFalse(target.exists())


class CliSingleOrganizationTests(GatehouseTestCase):
    """A fresh installation: its Default organization is the only one."""

    def test_project_and_token_create_without_org_use_the_default_organization(self):
        name = unique('cli-default-org')
        body = self.server.cli('project create', '--name', name)
        self.assertEqual(body['organizationId'], self.org_id)
        token = self.server.cli('token create', '--project', name, '--name', unique('cli-t'))
        self.assertEqual((token['organizationId'], token['projectId']),
                         (self.org_id, body['projectId']))
        listed = self.server.cli('project list')['projects']
        self.assertEqual([p['projectName'] for p in listed], [name])
        tokens = self.server.cli('token list')['tokens']
        self.assertIn(token['id'], [t['id'] for t in tokens])


class InterruptedInitTests(GatehouseTestCase):
    """An init that stopped half way is completed by the next one, never left broken."""

    server_per_test = True

    def test_init_after_an_interrupted_init_restores_the_admin_credential(self):
        self.server.stop()
        # As if the first init had stopped right after creating the organization.
        self.server.store_execute(
            "DELETE FROM settings WHERE key IN ('admin_secret_hash', 'initialized_at')")
        done = self.server.cli_run('init', json_out=False)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn(b'interrupted', done.stdout)
        self.server.start()
        admin = (self.server.data_dir / 'admin.token').read_text().strip()
        response = self.request('GET', '/v2/admin/organizations', token=admin)
        self.assertEqual(response.status, 200, response.body)
        self.assertTokenWorks(self.org_token)

    def test_serve_after_every_organization_was_deleted_creates_no_new_one(self):
        self.ok(self.request('DELETE', f'/v2/admin/organizations/{self.org_id}',
                             token=self.admin_token))
        self.server.stop()
        self.server.start()
        response = self.request('GET', '/v2/admin/organizations', token=self.admin_token)
        self.assertEqual(self.ok(response)['count'], 0)

    def test_init_on_a_finished_installation_fails_and_changes_nothing(self):
        before = (self.server.data_dir / 'admin.token').read_text()
        done = self.server.cli_run('init')
        self.assertNotEqual(done.returncode, 0)
        self.assertIn(b'already initialized', done.stderr)
        self.assertEqual((self.server.data_dir / 'admin.token').read_text(), before)
