"""API.md section 3: another organization's ids answer exactly like ids that do not exist."""

import uuid

from .harness import E_PROJECT_NOT_FOUND, E_SCOPE, E_TOKEN_NOT_FOUND, GatehouseTestCase, unique


class OrganizationIsolationTests(GatehouseTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        srv = cls.server
        cls.project_a = srv.request('POST', '/v1/organization/project',
                                    body={'name': unique('iso-a'), 'description': 'A'},
                                    token=srv.org_token).body
        cls.token_a = srv.request('POST', '/v2/projects/tokens', body={'name': unique('t')},
                                  headers={'project-id': cls.project_a['projectId']},
                                  token=srv.org_token).body
        cls.org_b = srv.request('POST', '/v2/admin/organizations', body={'name': unique('org-b')},
                                token=srv.admin_token).body
        cls.b_token = cls.org_b['apiToken']['secret']

    def test_project_of_another_organization_answers_404_id_2005(self):
        pid = self.project_a['projectId']
        missing = str(uuid.uuid4())
        for target in (pid, missing):
            for method, path, body in (
                    ('GET', f'/v1/organization/project/{target}', None),
                    ('PUT', f'/v1/organization/project/{target}', {'name': unique('stolen')}),
                    ('DELETE', f'/v1/organization/project/{target}', None),
                    ('GET', f'/v1/organization/project/{target}/tokens', None),
                    ('POST', '/v2/projects/tokens', {'name': unique('t'), 'projectId': target})):
                with self.subTest(method=method, path=path, foreign=target == pid):
                    response = self.request(method, path, body=body, token=self.b_token)
                    self.assertError(response, E_PROJECT_NOT_FOUND)

    def test_token_of_another_organization_answers_404_id_9004(self):
        project_token = self.token_a['id']
        org_token = self.org_token_id
        missing = str(uuid.uuid4())
        for target, kind in ((project_token, 'projects'), (org_token, 'organization'),
                             (missing, 'projects'), (missing, 'organization')):
            for method, body in (('GET', None), ('PUT', {'description': 'stolen'}),
                                 ('DELETE', None)):
                with self.subTest(kind=kind, method=method, foreign=target != missing):
                    response = self.request(method, f'/v2/{kind}/tokens/{target}', body=body,
                                            token=self.b_token)
                    self.assertError(response, E_TOKEN_NOT_FOUND)
            for action, body in (('reveal', {}), ('rotate', {'graceSeconds': 0})):
                with self.subTest(target=target, action=action):
                    response = self.request('POST', f'/v2/tokens/{target}/{action}', body=body,
                                            token=self.b_token)
                    self.assertError(response, E_TOKEN_NOT_FOUND)

    def test_listings_do_not_show_another_organizations_data(self):
        names = [p['projectName'] for p in
                 self.ok(self.get('/v1/organization/projects?detail=full',
                                  token=self.b_token))['projects']]
        self.assertNotIn(self.project_a['projectName'], names)
        self.assertEqual(self.ok(self.get(
            f'/v1/organization/projects?name={self.project_a["projectName"]}',
            token=self.b_token))['projects'], [])
        ids = [t['id'] for t in self.ok(self.get('/v2/tokens?pageSize=500&status=all',
                                                 token=self.b_token))['tokens']]
        self.assertNotIn(self.token_a['id'], ids)
        self.assertNotIn(self.org_token_id, ids)
        self.assertIn(self.org_b['apiToken']['id'], ids)
        org_ids = [t['id'] for t in self.ok(self.get('/v2/organization/tokens',
                                                     token=self.b_token))['tokens']]
        self.assertNotIn(self.org_token_id, org_ids)

    def test_attempts_from_another_organization_change_nothing(self):
        before = self.snapshot()
        pid = self.project_a['projectId']
        self.request('PUT', f'/v1/organization/project/{pid}', body={'name': unique('stolen')},
                     token=self.b_token)
        self.request('DELETE', f'/v1/organization/project/{pid}', token=self.b_token)
        self.request('DELETE', f'/v2/projects/tokens/{self.token_a["id"]}', token=self.b_token)
        self.request('POST', f'/v2/tokens/{self.token_a["id"]}/rotate',
                     body={'graceSeconds': 0}, token=self.b_token)
        self.assertEqual(self.snapshot(), before)
        self.assertTokenWorks(self.token_a['secret'])

    def test_same_project_name_is_allowed_in_another_organization(self):
        response = self.request('POST', '/v1/organization/project',
                                body={'name': self.project_a['projectName']}, token=self.b_token)
        project = self.ok(response)
        self.assertNotEqual(project['projectId'], self.project_a['projectId'])
        self.assertEqual(project['organizationId'], self.org_b['organizationId'])

    def test_project_token_never_sees_a_project_of_another_organization(self):
        # Section 3 allows either reading: out of scope (403 id 7) or nonexistent (404 id 2005).
        b_project = self.ok(self.request('POST', '/v1/organization/project',
                                         body={'name': unique('iso-b')}, token=self.b_token))
        response = self.get(f'/v1/organization/project/{b_project["projectId"]}',
                            token=self.token_a['secret'])
        self.assertOneOfErrors(response, [E_SCOPE, E_PROJECT_NOT_FOUND])
