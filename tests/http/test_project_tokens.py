"""API.md section 6: project tokens at /v2/projects/tokens."""

import time
import uuid

from .harness import (E_PROJECT_NOT_FOUND, E_TOKEN_EXISTS, E_TOKEN_NOT_FOUND, GatehouseTestCase,
                      PROJECT_SECRET_RE, PROPAGATION_TIMEOUT_S, e_pattern, e_required, unique,
                      wait_until)

TOKEN_KEYS = {'id', 'name', 'description', 'status', 'scope', 'projectId', 'projectName',
              'organizationId', 'timestamp', 'lastUsedAt', 'expiresAt', 'secretPrefix'}
CREATED = [{'id': 0, 'description': 'Token created successfully', 'type': 'Success'}]


class ProjectTokenTests(GatehouseTestCase):

    def setUp(self):
        self.project = self.create_project()
        self.pid = self.project['projectId']

    def post(self, body, headers=None):
        return self.request('POST', '/v2/projects/tokens', body=body, headers=headers,
                            token=self.org_token)

    def token_path(self, token):
        return f'/v2/projects/tokens/{token["id"]}'

    def list_ids(self, pid=None):
        body = self.ok(self.get(f'/v1/organization/project/{pid or self.pid}/tokens'))
        return [t['id'] for t in body['tokens']]

    def assertProjectToken(self, token, name=None):
        self.assertTrue(TOKEN_KEYS <= set(token), f'missing {TOKEN_KEYS - set(token)}')
        self.assertUuid4(token['id'])
        if name is not None:
            self.assertEqual(token['name'], name)
        self.assertEqual(token['scope'], 'Project')
        self.assertEqual(token['projectId'], self.pid)
        self.assertEqual(token['projectName'], self.project['projectName'])
        self.assertEqual(token['organizationId'], self.org_id)
        self.assertTimestamp(token['timestamp'])
        self.assertIn(token['status'], ('Active', 'Blocked', 'Revoked'))

    def test_create_with_project_id_header_returns_token_secret_and_message(self):
        name = unique('hdr')
        body = self.ok(self.post({'name': name, 'description': 'via header'},
                                 headers={'project-id': self.pid}))
        self.assertProjectToken(body, name)
        self.assertEqual(body['description'], 'via header')
        self.assertEqual(body['status'], 'Active')
        self.assertIsNone(body['lastUsedAt'])
        self.assertIsNone(body['expiresAt'])
        self.assertRegex(body['secret'], PROJECT_SECRET_RE)
        self.assertEqual(body['secretPrefix'], body['secret'][:8])
        self.assertEqual(body['messages'], CREATED)
        self.assertTokenWorks(body['secret'])

    def test_create_with_ProjectId_header(self):
        name = unique('hdr2')
        body = self.ok(self.post({'name': name}, headers={'ProjectId': self.pid}))
        self.assertProjectToken(body, name)
        self.assertEqual(body['messages'], CREATED)

    def test_create_with_project_id_in_body(self):
        name = unique('body')
        body = self.ok(self.post({'name': name, 'projectId': self.pid}))
        self.assertProjectToken(body, name)
        self.assertIn(body['id'], self.list_ids())

    def test_create_without_project_is_400_id_9_and_creates_nothing(self):
        before = self.snapshot()
        self.assertError(self.post({'name': unique('orphan')}), e_required('projectId'))
        self.assertEqual(self.snapshot(), before)

    def test_a_project_id_that_is_not_text_is_400_id_11_not_a_missing_one(self):
        before = self.snapshot()
        self.assertError(self.post({'name': unique('typed'), 'projectId': 123}),
                         e_pattern('projectId'))
        self.assertError(self.post({'name': unique('null'), 'projectId': None}),
                         e_required('projectId'))
        self.assertEqual(self.snapshot(), before)

    def test_a_missing_project_id_is_answered_with_the_bodys_other_problems(self):
        before = self.snapshot()
        reply = self.post({'description': 'x' * 2000, 'projectId': 7})
        self.assertError(reply, e_required('name'))
        self.assertError(reply, e_pattern('projectId'))
        self.assertEqual(len(reply.body['errors']), 3, reply.body)
        self.assertError(self.post({}), e_required('projectId'))
        self.assertError(self.post({}), e_required('name'))
        self.assertEqual(self.snapshot(), before)

    def test_create_without_name_is_400_id_9(self):
        self.assertError(self.post({'description': 'x'}, headers={'project-id': self.pid}),
                         e_required('name'))

    def test_create_in_unknown_project_is_404_id_2005(self):
        response = self.post({'name': unique('t')}, headers={'project-id': str(uuid.uuid4())})
        self.assertError(response, E_PROJECT_NOT_FOUND)

    def test_create_with_expires_at_date_and_zoneless_timestamp(self):
        for given, stored in (('2031-05-06', '2031-05-06T00:00:00.000Z'),
                              ('2031-05-06T07:08:09', '2031-05-06T07:08:09.000Z'),
                              ('2031-05-06T07:08:09.123Z', '2031-05-06T07:08:09.123Z')):
            with self.subTest(expiresAt=given):
                token = self.create_project_token(self.pid, expiresAt=given)
                self.assertEqual(token['expiresAt'], stored)
                self.assertTokenWorks(token['secret'])

    def test_get_by_id_returns_the_token_without_secret(self):
        created = self.create_project_token(self.pid, description='read me')
        body = self.ok(self.get(self.token_path(created)))
        self.assertProjectToken(body, created['name'])
        self.assertEqual(body['id'], created['id'])
        self.assertEqual(body['description'], 'read me')
        self.assertEqual(body['secretPrefix'], created['secret'][:8])
        self.assertNotIn('secret', body)
        self.assertNotIn(created['secret'], str(body))

    def test_unknown_token_id_is_404_id_9004(self):
        missing = str(uuid.uuid4())
        for method, body in (('GET', None), ('PUT', {'description': 'x'}), ('DELETE', None)):
            with self.subTest(method=method):
                response = self.request(method, f'/v2/projects/tokens/{missing}', body=body,
                                        token=self.org_token)
                self.assertError(response, E_TOKEN_NOT_FOUND)

    def test_update_changes_name_description_and_expiry(self):
        token = self.create_project_token(self.pid)
        name = unique('renamed')
        body = self.ok(self.request('PUT', self.token_path(token),
                                    body={'name': name, 'description': 'new',
                                          'expiresAt': '2032-01-02'}, token=self.org_token))
        self.assertProjectToken(body, name)
        self.assertEqual(body['description'], 'new')
        self.assertEqual(body['expiresAt'], '2032-01-02T00:00:00.000Z')
        self.assertIsInstance(body['messages'], list)
        self.assertNotIn('secret', body)
        again = self.ok(self.get(self.token_path(token)))
        self.assertEqual((again['name'], again['description']), (name, 'new'))
        self.assertTokenWorks(token['secret'])

    def test_update_status_values_are_case_insensitive(self):
        token = self.create_project_token(self.pid)
        for given, written in (('blocked', 'Blocked'), ('Active', 'Active'),
                               ('BLOCKED', 'Blocked'), ('active', 'Active'),
                               ('Blocked', 'Blocked'), ('ACTIVE', 'Active')):
            with self.subTest(status=given):
                body = self.ok(self.request('PUT', self.token_path(token),
                                            body={'status': given}, token=self.org_token))
                self.assertEqual(body['status'], written)
                self.assertEqual(self.ok(self.get(self.token_path(token)))['status'], written)
                self.assertEqual(self.token_works(token['secret']), written == 'Active')

    def test_delete_revokes_the_token(self):
        token = self.create_project_token(self.pid)
        response = self.request('DELETE', self.token_path(token), token=self.org_token)
        self.assertIsInstance(self.ok(response)['messages'], list)
        body = self.ok(self.get(self.token_path(token)))
        self.assertEqual(body['status'], 'Revoked')
        self.assertNotIn(token['id'], self.list_ids())
        self.assertTokenRejected(token['secret'])

    def test_project_token_list_holds_active_and_blocked_tokens(self):
        active = self.create_project_token(self.pid)
        blocked = self.create_project_token(self.pid, status='blocked')
        revoked = self.create_project_token(self.pid)
        self.ok(self.request('DELETE', self.token_path(revoked), token=self.org_token))
        body = self.ok(self.get(f'/v1/organization/project/{self.pid}/tokens'))
        by_id = {t['id']: t for t in body['tokens']}
        self.assertEqual(set(by_id), {self.project['tokens'][0]['id'], active['id'],
                                      blocked['id']})
        self.assertEqual(by_id[blocked['id']]['status'], 'Blocked')
        for token in body['tokens']:
            self.assertProjectToken(token)
            self.assertNotIn('secret', token)

    def test_name_taken_by_a_live_token_of_the_project_is_409_id_9001(self):
        name = unique('taken')
        self.create_project_token(self.pid, name=name)
        before = self.snapshot()
        self.assertError(self.post({'name': name}, headers={'project-id': self.pid}),
                         E_TOKEN_EXISTS)
        self.assertError(self.post({'name': 'Default'}, headers={'project-id': self.pid}),
                         E_TOKEN_EXISTS)
        self.assertEqual(self.snapshot(), before)

    def test_name_of_a_blocked_token_is_still_taken(self):
        name = unique('blk')
        self.create_project_token(self.pid, name=name, status='blocked')
        self.assertError(self.post({'name': name}, headers={'project-id': self.pid}),
                         E_TOKEN_EXISTS)

    def test_renaming_to_a_taken_name_is_409_id_9001(self):
        first = self.create_project_token(self.pid)
        second = self.create_project_token(self.pid)
        response = self.request('PUT', self.token_path(second), body={'name': first['name']},
                                token=self.org_token)
        self.assertError(response, E_TOKEN_EXISTS)
        self.assertEqual(self.ok(self.get(self.token_path(second)))['name'], second['name'])

    def test_name_of_a_revoked_token_can_be_reused(self):
        name = unique('reuse')
        old = self.create_project_token(self.pid, name=name)
        self.ok(self.request('DELETE', self.token_path(old), token=self.org_token))
        new = self.create_project_token(self.pid, name=name)
        self.assertNotEqual(new['id'], old['id'])
        self.assertTokenWorks(new['secret'])
        self.assertTokenRejected(old['secret'])

    def test_same_name_in_another_project_is_allowed(self):
        name = unique('shared')
        self.create_project_token(self.pid, name=name)
        other = self.create_project()
        token = self.create_project_token(other['projectId'], name=name)
        self.assertEqual(token['projectId'], other['projectId'])

    def test_last_used_at_is_set_after_the_token_is_used(self):
        token = self.create_project_token(self.pid)
        started = time.time()
        self.assertTokenWorks(token['secret'])

        def last_used():
            return self.ok(self.get(self.token_path(token)))['lastUsedAt']
        value = wait_until(last_used, PROPAGATION_TIMEOUT_S, 0.2)
        self.assertIsNotNone(value, 'lastUsedAt still null 5 s after a successful call')
        self.assertTimestamp(value)
        self.assertGreaterEqual(value, time.strftime('%Y-%m-%dT%H:%M:%S',
                                                     time.gmtime(started - 2)))

    def test_many_tokens_per_project_all_work(self):
        tokens = [self.create_project_token(self.pid) for _ in range(3)]
        for token in tokens:
            body = self.assertTokenWorks(token['secret'])
            self.assertEqual((body['apiTokenId'], body['projectId']), (token['id'], self.pid))
