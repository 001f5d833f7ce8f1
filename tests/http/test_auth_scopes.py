"""API.md section 3: credentials, token status and scopes."""

import datetime
import time
import uuid

from .harness import (E_BAD_TOKEN, E_NO_KEY, E_SCOPE, E_TOKEN_NOT_FOUND, GatehouseTestCase,
                      basic_auth, unique, wait_until)

VALIDATE = '/v1/accessControl/apitoken/validate'


def iso_in(seconds):
    moment = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return moment.strftime('%Y-%m-%dT%H:%M:%S.') + f'{moment.microsecond // 1000:03d}Z'


class CredentialTests(GatehouseTestCase):

    def test_missing_credentials_is_401_id_5(self):
        for method, path in (('GET', VALIDATE), ('GET', '/v1/organization/projects'),
                             ('GET', '/v2/tokens'), ('POST', '/v1/organization/project')):
            with self.subTest(method=method, path=path):
                body = {'name': unique('nokey')} if method == 'POST' else None
                self.assertError(self.request(method, path, body=body), E_NO_KEY)

    def test_empty_bearer_is_401(self):
        response = self.request('GET', VALIDATE, headers={'Authorization': 'Bearer '})
        self.assertIn(response.status, (401,))
        self.assertOneOfErrors(response, [E_NO_KEY, E_BAD_TOKEN])

    def test_unknown_token_is_401_id_6(self):
        for secret in ('gto_' + 'A' * 49, 'gtp_' + '0' * 49, 'hello', 'gto_short',
                       str(uuid.uuid4())):
            with self.subTest(secret=secret):
                self.assertTokenRejected(secret)

    def test_token_id_is_not_a_credential(self):
        self.assertTokenRejected(self.org_token_id)

    def test_secret_with_bad_checksum_is_401_id_6(self):
        secret = self.create_project()['tokens'][0]['secret']
        self.assertTokenWorks(secret)
        last = secret[-1]
        flipped = secret[:-1] + ('A' if last != 'A' else 'B')
        self.assertTokenRejected(flipped)
        body_flipped = secret[:10] + ('x' if secret[10] != 'x' else 'y') + secret[11:]
        self.assertTokenRejected(body_flipped)

    def test_bearer_basic_and_bare_authorization_are_accepted(self):
        secret = self.org_token
        for header in (f'Bearer {secret}', basic_auth(secret), secret):
            with self.subTest(header=header[:12]):
                response = self.request('GET', VALIDATE, headers={'Authorization': header})
                self.assertEqual(self.ok(response)['apiTokenId'], self.org_token_id)

    def test_basic_and_bare_forms_of_a_bad_secret_are_401_id_6(self):
        bad = 'gto_' + 'Z' * 49
        for header in (basic_auth(bad), bad):
            with self.subTest(header=header[:12]):
                response = self.request('GET', VALIDATE, headers={'Authorization': header})
                self.assertError(response, E_BAD_TOKEN)


class TokenStatusTests(GatehouseTestCase):

    def setUp(self):
        self.project = self.create_project()
        self.pid = self.project['projectId']

    def test_blocked_token_is_rejected_with_401_id_6(self):
        token = self.create_project_token(self.pid)
        self.assertTokenWorks(token['secret'])
        self.ok(self.request('PUT', f'/v2/projects/tokens/{token["id"]}',
                             body={'status': 'blocked'}, token=self.org_token))
        self.assertTokenRejected(token['secret'])
        self.assertError(self.request('GET', f'/v1/organization/project/{self.pid}',
                                      token=token['secret']), E_BAD_TOKEN)

    def test_blocked_token_works_again_when_set_active(self):
        token = self.create_project_token(self.pid)
        path = f'/v2/projects/tokens/{token["id"]}'
        self.ok(self.request('PUT', path, body={'status': 'blocked'}, token=self.org_token))
        self.assertTokenRejected(token['secret'])
        body = self.ok(self.request('PUT', path, body={'status': 'active'}, token=self.org_token))
        self.assertEqual(body['status'], 'Active')
        self.assertTokenWorks(token['secret'])

    def test_token_created_blocked_is_rejected_with_401_id_6(self):
        token = self.create_project_token(self.pid, status='Blocked')
        self.assertEqual(token['status'], 'Blocked')
        self.assertTokenRejected(token['secret'])

    def test_revoked_token_is_rejected_with_401_id_6(self):
        token = self.create_project_token(self.pid)
        self.ok(self.request('DELETE', f'/v2/projects/tokens/{token["id"]}',
                             token=self.org_token))
        self.assertTokenRejected(token['secret'])

    def test_revoked_token_never_comes_back(self):
        token = self.create_project_token(self.pid)
        path = f'/v2/projects/tokens/{token["id"]}'
        self.ok(self.request('DELETE', path, token=self.org_token))
        response = self.request('PUT', path, body={'status': 'active'}, token=self.org_token)
        self.assertGreaterEqual(response.status, 400, f'reactivating a revoked token: '
                                                      f'{response.body!r}')
        self.assertLess(response.status, 500)
        self.assertTokenRejected(token['secret'])
        self.assertEqual(self.ok(self.get(path))['status'], 'Revoked')

    def test_revoked_organization_token_is_rejected_with_401_id_6(self):
        token = self.create_org_token()
        self.assertTokenWorks(token['secret'])
        self.ok(self.request('DELETE', f'/v2/organization/tokens/{token["id"]}',
                             token=self.org_token))
        self.assertError(self.get('/v1/organization/projects', token=token['secret']),
                         E_BAD_TOKEN)

    def test_expired_token_is_rejected_with_401_id_6(self):
        token = self.create_project_token(self.pid, expiresAt=iso_in(2))
        self.assertTimestamp(token['expiresAt'])
        self.assertTokenWorks(token['secret'], 'before expiresAt')
        time.sleep(2.0)
        rejected = wait_until(lambda: not self.token_works(token['secret']), 5.0)
        self.assertTrue(rejected, 'token still accepted 7 s after a 2 s expiry')
        self.assertTokenRejected(token['secret'])

    def test_token_with_past_expiry_is_rejected_at_once(self):
        token = self.create_project_token(self.pid, expiresAt='2020-01-01T00:00:00.000Z')
        self.assertTokenRejected(token['secret'])

    def test_expired_organization_token_is_rejected_with_401_id_6(self):
        token = self.create_org_token(expiresAt=iso_in(2))
        self.assertTokenWorks(token['secret'])
        time.sleep(2.0)
        rejected = wait_until(lambda: not self.token_works(token['secret']), 5.0)
        self.assertTrue(rejected, 'organization token still accepted after expiresAt')
        self.assertError(self.get('/v1/organization/projects', token=token['secret']),
                         E_BAD_TOKEN)


class ScopeTests(GatehouseTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        create = lambda name: cls.server.request(  # noqa: E731
            'POST', '/v1/organization/project', body={'name': name},
            token=cls.server.org_token).body
        cls.project = create(unique('scope-a'))
        cls.other = create(unique('scope-b'))
        cls.project_secret = cls.project['tokens'][0]['secret']
        cls.project_token_id = cls.project['tokens'][0]['id']

    def organization_routes(self):
        pid, other = self.project['projectId'], self.other['projectId']
        tid = self.project_token_id
        return [
            ('GET', '/v1/organization/projects', None, {}),
            ('GET', '/v1/organization/projects?detail=full', None, {}),
            ('POST', '/v1/organization/project', {'name': unique('by-project-token')}, {}),
            ('PUT', f'/v1/organization/project/{pid}', {'name': unique('renamed')}, {}),
            ('DELETE', f'/v1/organization/project/{pid}', None, {}),
            ('PUT', f'/v1/organization/project/{other}', {'name': unique('renamed')}, {}),
            ('DELETE', f'/v1/organization/project/{other}', None, {}),
            ('GET', f'/v1/organization/project/{pid}/tokens', None, {}),
            ('POST', '/v2/projects/tokens', {'name': unique('t')}, {'project-id': pid}),
            ('GET', f'/v2/projects/tokens/{tid}', None, {}),
            ('PUT', f'/v2/projects/tokens/{tid}', {'description': 'x'}, {}),
            ('DELETE', f'/v2/projects/tokens/{tid}', None, {}),
            ('GET', '/v2/organization/tokens', None, {}),
            ('POST', '/v2/organization/tokens', {'name': unique('t')}, {}),
            ('GET', f'/v2/organization/tokens/{self.org_token_id}', None, {}),
            ('PUT', f'/v2/organization/tokens/{self.org_token_id}', {'description': 'x'}, {}),
            ('DELETE', f'/v2/organization/tokens/{self.org_token_id}', None, {}),
            ('GET', '/v2/tokens', None, {}),
            ('POST', f'/v2/tokens/{tid}/reveal', {}, {}),
            ('POST', f'/v2/tokens/{tid}/rotate', {'graceSeconds': 0}, {}),
            ('POST', f'/v2/tokens/{self.org_token_id}/reveal', {}, {}),
        ]

    def test_project_token_on_organization_routes_is_403_id_7_and_changes_nothing(self):
        before = self.snapshot()
        for method, path, body, headers in self.organization_routes():
            with self.subTest(method=method, path=path):
                response = self.request(method, path, body=body, headers=headers,
                                        token=self.project_secret)
                self.assertError(response, E_SCOPE)
        self.assertEqual(self.snapshot(), before)
        self.assertTokenWorks(self.project_secret, 'the project token was not rotated')

    def test_project_token_reads_its_own_project(self):
        pid = self.project['projectId']
        body = self.ok(self.get(f'/v1/organization/project/{pid}', token=self.project_secret))
        self.assertEqual(body['projectId'], pid)
        self.assertEqual(body['projectName'], self.project['projectName'])

    def test_project_token_on_another_project_is_403_id_7(self):
        other = self.other['projectId']
        self.assertError(self.get(f'/v1/organization/project/{other}',
                                  token=self.project_secret), E_SCOPE)

    def test_organization_token_reads_every_project_of_its_organization(self):
        for project in (self.project, self.other):
            pid = project['projectId']
            self.assertEqual(self.ok(self.get(f'/v1/organization/project/{pid}'))['projectId'],
                             pid)

    def test_project_token_on_admin_routes_is_403_id_7(self):
        self.assertError(self.get('/v2/admin/organizations', token=self.project_secret),
                         E_SCOPE)

    def test_organization_token_on_admin_routes_is_403_id_7_and_creates_nothing(self):
        self.assertError(self.get('/v2/admin/organizations', token=self.org_token), E_SCOPE)
        name = unique('org-by-org-token')
        response = self.request('POST', '/v2/admin/organizations', body={'name': name},
                                token=self.org_token)
        self.assertError(response, E_SCOPE)
        listing = self.ok(self.get('/v2/admin/organizations?pageSize=500',
                                   token=self.admin_token))
        self.assertNotIn(name, [o['organizationName'] for o in listing['organizations']])

    def test_admin_token_is_accepted_on_admin_routes(self):
        body = self.ok(self.get('/v2/admin/organizations', token=self.admin_token))
        self.assertIn(self.org_id, [o['organizationId'] for o in body['organizations']])

    def test_admin_token_is_refused_outside_admin_routes(self):
        pid = self.project['projectId']
        for path in ('/v1/organization/projects', f'/v1/organization/project/{pid}',
                     '/v2/tokens', '/v2/organization/tokens'):
            with self.subTest(path=path):
                response = self.get(path, token=self.admin_token)
                self.assertOneOfErrors(response, [E_SCOPE, E_BAD_TOKEN])

    def test_revealing_or_rotating_unknown_token_is_404_id_9004(self):
        missing = str(uuid.uuid4())
        for action, body in (('reveal', {}), ('rotate', {'graceSeconds': 0})):
            with self.subTest(action=action):
                response = self.request('POST', f'/v2/tokens/{missing}/{action}', body=body,
                                        token=self.org_token)
                self.assertError(response, E_TOKEN_NOT_FOUND)
