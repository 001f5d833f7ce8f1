"""API.md section 6: organization tokens at /v2/organization/tokens and the lock-out guard."""

import datetime
import uuid

from .harness import (E_LAST_ORG_TOKEN, E_TOKEN_EXISTS, E_TOKEN_NOT_FOUND, GatehouseTestCase,
                      ORG_SECRET_RE, e_required, unique)

CREATED = [{'id': 0, 'description': 'Token created successfully', 'type': 'Success'}]
ORG_TOKEN_KEYS = {'id', 'name', 'description', 'status', 'scope', 'organizationId', 'timestamp',
                  'lastUsedAt', 'expiresAt', 'secretPrefix'}


class FreshInstallationTests(GatehouseTestCase):

    def test_init_prints_the_default_organization_and_its_token(self):
        info = self.server.init_info
        self.assertUuid4(info['organizationId'])
        self.assertEqual(info['organizationName'], 'Default')
        self.assertUuid4(info['apiToken']['id'])
        self.assertEqual(info['apiToken']['name'], 'DefaultOrganization')
        self.assertRegex(info['apiToken']['secret'], ORG_SECRET_RE)

    def test_fresh_installation_has_exactly_the_default_organization_token(self):
        body = self.ok(self.get('/v2/organization/tokens'))
        self.assertEqual(len(body['tokens']), 1, body)
        token = body['tokens'][0]
        self.assertEqual(token['id'], self.org_token_id)
        self.assertEqual(token['name'], 'DefaultOrganization')
        self.assertEqual(token['description'], 'Default for Organization ApiToken')
        self.assertEqual(token['status'], 'Active')
        self.assertEqual(token['scope'], 'Organization')
        self.assertEqual(token['organizationId'], self.org_id)
        self.assertNotIn('projectId', token)
        self.assertNotIn('projectName', token)
        self.assertNotIn('secret', token)
        self.assertEqual(token['secretPrefix'], self.org_token[:8])

    def test_fresh_installation_has_no_projects(self):
        self.assertEqual(self.ok(self.get('/v1/organization/projects?detail=full')),
                         {'projects': []})

    def test_organization_token_validates_as_organization_scope(self):
        body = self.assertTokenWorks(self.org_token)
        self.assertEqual(body, {
            'organizationId': self.org_id, 'organizationName': 'Default', 'projectId': None,
            'projectName': None, 'apiTokenId': self.org_token_id,
            'apiTokenName': 'DefaultOrganization', 'scope': 'Organization', 'status': 'Active'})


class OrganizationTokenTests(GatehouseTestCase):

    def path(self, token_id):
        return f'/v2/organization/tokens/{token_id}'

    def test_create_returns_organization_token_secret_and_message(self):
        name = unique('org')
        body = self.create_org_token(name, description='ops')
        self.assertTrue(ORG_TOKEN_KEYS <= set(body), f'missing {ORG_TOKEN_KEYS - set(body)}')
        self.assertUuid4(body['id'])
        self.assertEqual(body['name'], name)
        self.assertEqual(body['description'], 'ops')
        self.assertEqual(body['status'], 'Active')
        self.assertEqual(body['scope'], 'Organization')
        self.assertEqual(body['organizationId'], self.org_id)
        self.assertNotIn('projectId', body)
        self.assertNotIn('projectName', body)
        self.assertTimestamp(body['timestamp'])
        self.assertRegex(body['secret'], ORG_SECRET_RE)
        self.assertEqual(body['secretPrefix'], body['secret'][:8])
        self.assertEqual(body['messages'], CREATED)

    def test_new_organization_token_manages_the_organization_at_once(self):
        token = self.create_org_token()
        self.ok(self.get('/v1/organization/projects', token=token['secret']))
        project = self.create_project(token=token['secret'])
        self.assertEqual(project['organizationId'], self.org_id)

    def test_list_includes_created_tokens_without_secrets(self):
        token = self.create_org_token()
        body = self.ok(self.get('/v2/organization/tokens'))
        ids = [t['id'] for t in body['tokens']]
        self.assertIn(token['id'], ids)
        self.assertIn(self.org_token_id, ids)
        for item in body['tokens']:
            self.assertEqual(item['scope'], 'Organization')
            self.assertNotIn('secret', item)
            self.assertNotIn('projectId', item)

    def test_list_excludes_project_tokens_and_revoked_tokens(self):
        project = self.create_project()
        revoked = self.create_org_token()
        self.ok(self.request('DELETE', self.path(revoked['id']), token=self.org_token))
        ids = [t['id'] for t in self.ok(self.get('/v2/organization/tokens'))['tokens']]
        self.assertNotIn(project['tokens'][0]['id'], ids)
        self.assertNotIn(revoked['id'], ids)

    def test_get_put_delete_by_id(self):
        token = self.create_org_token()
        body = self.ok(self.get(self.path(token['id'])))
        self.assertEqual(body['id'], token['id'])
        self.assertNotIn('secret', body)
        name = unique('renamed')
        body = self.ok(self.request('PUT', self.path(token['id']),
                                    body={'name': name, 'description': 'changed'},
                                    token=self.org_token))
        self.assertEqual((body['name'], body['description']), (name, 'changed'))
        self.assertIsInstance(body['messages'], list)
        body = self.ok(self.request('PUT', self.path(token['id']), body={'status': 'BLOCKED'},
                                    token=self.org_token))
        self.assertEqual(body['status'], 'Blocked')
        self.assertTokenRejected(token['secret'])
        body = self.ok(self.request('PUT', self.path(token['id']), body={'status': 'active'},
                                    token=self.org_token))
        self.assertEqual(body['status'], 'Active')
        self.assertTokenWorks(token['secret'])
        self.assertIsInstance(self.ok(self.request('DELETE', self.path(token['id']),
                                                   token=self.org_token))['messages'], list)
        self.assertEqual(self.ok(self.get(self.path(token['id'])))['status'], 'Revoked')
        self.assertTokenRejected(token['secret'])

    def test_unknown_id_is_404_id_9004(self):
        missing = str(uuid.uuid4())
        for method, body in (('GET', None), ('PUT', {'description': 'x'}), ('DELETE', None)):
            with self.subTest(method=method):
                response = self.request(method, self.path(missing), body=body,
                                        token=self.org_token)
                self.assertError(response, E_TOKEN_NOT_FOUND)

    def test_missing_name_is_400_id_9(self):
        response = self.request('POST', '/v2/organization/tokens', body={'description': 'x'},
                                token=self.org_token)
        self.assertError(response, e_required('name'))

    def test_taken_name_is_409_id_9001_and_creates_nothing(self):
        name = unique('taken')
        self.create_org_token(name)
        before = self.snapshot()
        for taken in (name, 'DefaultOrganization'):
            with self.subTest(name=taken):
                response = self.request('POST', '/v2/organization/tokens', body={'name': taken},
                                        token=self.org_token)
                self.assertError(response, E_TOKEN_EXISTS)
        self.assertEqual(self.snapshot(), before)

    def test_revoked_name_can_be_reused(self):
        name = unique('reuse')
        old = self.create_org_token(name)
        self.ok(self.request('DELETE', self.path(old['id']), token=self.org_token))
        new = self.create_org_token(name)
        self.assertNotEqual(new['id'], old['id'])

    def test_organization_token_name_may_equal_a_project_token_name(self):
        project = self.create_project()
        name = unique('both')
        self.create_project_token(project['projectId'], name=name)
        self.assertEqual(self.create_org_token(name)['name'], name)


class LastActiveOrganizationTokenTests(GatehouseTestCase):
    """Each test works in its own new organization, whose only token is its default one."""

    def setUp(self):
        org = self.create_organization(unique('guard'))
        self.token = org['apiToken']['secret']
        self.token_id = org['apiToken']['id']

    def path(self, token_id):
        return f'/v2/organization/tokens/{token_id}'

    def put_status(self, token_id, status):
        return self.request('PUT', self.path(token_id), body={'status': status},
                            token=self.token)

    def revoke(self, token_id):
        return self.request('DELETE', self.path(token_id), token=self.token)

    def test_blocking_the_last_active_organization_token_is_409_id_9003(self):
        self.assertError(self.put_status(self.token_id, 'blocked'), E_LAST_ORG_TOKEN)
        self.assertTokenWorks(self.token)
        self.assertEqual(self.ok(self.get(self.path(self.token_id), token=self.token))['status'],
                         'Active')

    def test_revoking_the_last_active_organization_token_is_409_id_9003(self):
        self.assertError(self.revoke(self.token_id), E_LAST_ORG_TOKEN)
        self.assertTokenWorks(self.token)

    def test_expiring_the_last_active_organization_token_is_409_id_9003(self):
        response = self.request('PUT', self.path(self.token_id),
                                body={'expiresAt': '2000-01-01T00:00:00Z'}, token=self.token)
        self.assertError(response, E_LAST_ORG_TOKEN)
        self.assertTokenWorks(self.token)

    def test_concurrent_updates_never_undo_a_block(self):
        second = self.create_org_token(token=self.token)
        self.ok(self.put_status(second['id'], 'blocked'))
        self.ok(self.request('PUT', self.path(second['id']), body={'description': 'renamed'},
                             token=self.token))
        body = self.ok(self.get(self.path(second['id']), token=self.token))
        self.assertEqual((body['status'], body['description']), ('Blocked', 'renamed'))
        self.assertTokenRejected(second['secret'])

    def test_blocking_is_allowed_once_a_second_active_token_exists(self):
        second = self.create_org_token(token=self.token)
        self.assertEqual(self.ok(self.put_status(self.token_id, 'blocked'))['status'], 'Blocked')
        self.assertTokenRejected(self.token)
        # The second one is now the last active token: the guard protects it.
        response = self.request('PUT', self.path(second['id']), body={'status': 'blocked'},
                                token=second['secret'])
        self.assertError(response, E_LAST_ORG_TOKEN)
        response = self.request('DELETE', self.path(second['id']), token=second['secret'])
        self.assertError(response, E_LAST_ORG_TOKEN)
        self.assertTokenWorks(second['secret'])

    def test_revoking_is_allowed_once_a_second_active_token_exists(self):
        second = self.create_org_token(token=self.token)
        self.ok(self.revoke(self.token_id))
        self.assertTokenRejected(self.token)
        self.assertError(self.request('DELETE', self.path(second['id']),
                                      token=second['secret']), E_LAST_ORG_TOKEN)

    def test_a_blocked_second_token_does_not_count_as_active(self):
        second = self.create_org_token(token=self.token, status='blocked')
        self.assertEqual(second['status'], 'Blocked')
        self.assertError(self.put_status(self.token_id, 'blocked'), E_LAST_ORG_TOKEN)
        self.assertError(self.revoke(self.token_id), E_LAST_ORG_TOKEN)

    def test_project_tokens_do_not_count_as_active_organization_tokens(self):
        project = self.create_project(token=self.token)
        self.assertTokenWorks(project['tokens'][0]['secret'])
        self.assertError(self.put_status(self.token_id, 'blocked'), E_LAST_ORG_TOKEN)


def iso_in(seconds):
    """An ISO-8601 UTC timestamp `seconds` from now."""
    at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return at.strftime('%Y-%m-%dT%H:%M:%S.') + f'{at.microsecond // 1000:03d}Z'


class LastOrganizationTokenExpiryGuardTests(GatehouseTestCase):
    """Issue 12 item 3: the guard covers every way a token stops being usable, a future expiry
    included. Each test works in a new organization whose only token is its default one."""

    def setUp(self):
        org = self.create_organization(unique('expiry-guard'))
        self.token = org['apiToken']['secret']
        self.token_id = org['apiToken']['id']

    def path(self, token_id):
        return f'/v2/organization/tokens/{token_id}'

    def put(self, token_id, body, token=None):
        return self.request('PUT', self.path(token_id), body=body, token=token or self.token)

    def test_a_future_expiry_on_the_only_organization_token_is_409_id_9003(self):
        for seconds in (3, 86400 * 365):
            with self.subTest(seconds=seconds):
                self.assertError(self.put(self.token_id, {'expiresAt': iso_in(seconds)}),
                                 E_LAST_ORG_TOKEN)
                body = self.ok(self.get(self.path(self.token_id), token=self.token))
                self.assertIsNone(body['expiresAt'])
        self.assertTokenWorks(self.token)

    def test_a_second_token_that_expires_soon_does_not_let_the_first_be_blocked(self):
        second = self.create_org_token(token=self.token, expiresAt=iso_in(3))
        self.assertError(self.put(self.token_id, {'status': 'blocked'}), E_LAST_ORG_TOKEN)
        self.assertError(self.put(self.token_id, {'expiresAt': iso_in(60)}), E_LAST_ORG_TOKEN)
        self.assertTokenWorks(self.token)
        self.assertTokenWorks(second['secret'])

    def test_a_second_token_that_expires_soon_does_not_let_the_first_be_revoked(self):
        self.create_org_token(token=self.token, expiresAt=iso_in(3))
        self.assertError(self.request('DELETE', self.path(self.token_id), token=self.token),
                         E_LAST_ORG_TOKEN)
        self.assertTokenWorks(self.token)

    def test_the_only_token_without_expiry_cannot_be_expired_through_another_token(self):
        second = self.create_org_token(token=self.token, expiresAt=iso_in(30))
        self.assertError(self.put(self.token_id, {'expiresAt': iso_in(5)}, token=second['secret']),
                         E_LAST_ORG_TOKEN)
        self.assertTokenWorks(self.token)

    def test_expiring_or_revoking_is_allowed_while_another_token_has_no_expiry(self):
        second = self.create_org_token(token=self.token)
        body = self.ok(self.put(self.token_id, {'expiresAt': iso_in(3600)}))
        self.assertIsNotNone(body['expiresAt'])
        self.ok(self.request('DELETE', self.path(self.token_id), token=second['secret']))
        self.assertTokenRejected(self.token)
        # The second is now the only one without expiry: it is guarded in turn.
        self.assertError(self.put(second['id'], {'expiresAt': iso_in(3)}, token=second['secret']),
                         E_LAST_ORG_TOKEN)

    def test_an_expiry_may_always_be_moved_later_or_removed(self):
        second = self.create_org_token(token=self.token, expiresAt=iso_in(60))
        self.ok(self.put(second['id'], {'expiresAt': iso_in(120)}))
        body = self.ok(self.put(second['id'], {'expiresAt': None}))
        self.assertIsNone(body['expiresAt'])
        # Now both have no expiry: either may be given one.
        self.ok(self.put(self.token_id, {'expiresAt': iso_in(3600)}))

    def test_rotating_the_only_organization_token_keeps_the_organization_usable(self):
        # Decision: rotation is not refused — the token stays Active under the new secret that
        # the same response returns (refusing would make a leaked last secret unrotatable).
        rotated = self.ok(self.request('POST', f'/v2/tokens/{self.token_id}/rotate',
                                       body={'graceSeconds': 0}, token=self.token))
        self.assertTokenWorks(rotated['secret'])
        self.assertTokenRejected(self.token)
