"""The audit trail (Gatehouse extension): GET /v2/audit, organization scope."""

from .harness import E_NO_KEY, E_SCOPE, GatehouseTestCase

AUDIT = '/v2/audit'


class AuditTests(GatehouseTestCase):

    def events(self, **params):
        query = '&'.join(f'{k}={v}' for k, v in params.items())
        return self.ok(self.request('GET', AUDIT + ('?' + query if query else ''),
                                    token=self.org_token))

    def test_reveal_rotate_and_token_changes_are_audited_newest_first_with_actor(self):
        project = self.create_project()
        token = self.create_project_token(project['projectId'], name='audited')
        self.ok(self.request('POST', f'/v2/tokens/{token["id"]}/reveal', token=self.org_token))
        self.ok(self.request('POST', f'/v2/tokens/{token["id"]}/rotate', body={},
                             token=self.org_token))
        body = self.events(pageSize=3)
        self.assertGreaterEqual(body['count'], 4)
        actions = [event['action'] for event in body['events']]
        self.assertEqual(actions, ['token.rotate', 'token.reveal', 'token.create'])
        for event in body['events']:
            self.assertEqual(event['actor'], 'DefaultOrganization')
            self.assertEqual(event['targetId'], token['id'])
            self.assertEqual(event['target'], 'audited')
            self.assertTimestamp(event['timestamp'])

    def test_project_changes_are_audited(self):
        project = self.create_project()
        self.ok(self.request('DELETE', f'/v1/organization/project/{project["projectId"]}',
                             token=self.org_token))
        actions = [event['action'] for event in self.events(pageSize=3)['events']]
        # The project's default token is created (and audited) with it.
        self.assertEqual(actions, ['project.delete', 'project.create', 'token.create'])

    def test_audit_never_contains_a_secret(self):
        token = self.create_org_token(name='secret-check')
        self.ok(self.request('POST', f'/v2/tokens/{token["id"]}/reveal', token=self.org_token))
        text = str(self.events(pageSize=500))
        self.assertNotIn(token['secret'], text)
        self.assertNotIn(self.org_token, text)

    def test_project_token_is_403_id_7_and_no_credentials_401_id_5(self):
        project = self.create_project()
        secret = project['tokens'][0]['secret']
        self.assertError(self.request('GET', AUDIT, token=secret), E_SCOPE)
        self.assertError(self.request('GET', AUDIT), E_NO_KEY)

    def test_other_organizations_events_are_not_visible(self):
        other = self.create_organization()
        other_token = other['apiToken']['secret']
        self.create_project()
        body = self.ok(self.request('GET', AUDIT, token=other_token))
        # Only its own creation, never this organization's project.
        self.assertEqual([event['action'] for event in body['events']], ['organization.create'])
        self.assertEqual(body['events'][0]['targetId'], other['organizationId'])
