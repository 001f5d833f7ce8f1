"""The audit trail (Gatehouse extension): GET /v2/audit, organization scope."""

from .harness import E_NO_KEY, E_SCOPE, GatehouseTestCase, unique

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


class AuditDetailsTests(GatehouseTestCase):
    """API.md section 12: one event per change with details, from the API, the console and
    the CLI, filtered as section 12 says, never with a secret."""

    def events(self, **params):
        query = '&'.join(f'{k}={v}' for k, v in params.items())
        return self.ok(self.request('GET', AUDIT + ('?' + query if query else ''),
                                    token=self.org_token))['events']

    def test_token_block_and_unblock_carry_the_status_before_and_after(self):
        project = self.create_project()
        token = self.create_project_token(project['projectId'], name=unique('blocked'))
        path = f'/v2/projects/tokens/{token["id"]}'
        self.ok(self.request('PUT', path, body={'status': 'blocked'}, token=self.org_token))
        self.ok(self.request('PUT', path, body={'status': 'active', 'description': 'back'},
                             token=self.org_token))
        events = self.events(targetId=token['id'])
        self.assertEqual([e['action'] for e in events],
                         ['token.unblock', 'token.block', 'token.create'])
        unblock, block, create = events
        self.assertEqual(block['details'], {'status': {'from': 'Active', 'to': 'Blocked'}})
        self.assertEqual(unblock['details'], {'status': {'from': 'Blocked', 'to': 'Active'},
                                              'description': {'from': '', 'to': 'back'}})
        self.assertEqual(create['details']['name'], {'from': None, 'to': token['name']})
        for event in events:
            self.assertEqual(event['actor'], 'DefaultOrganization')
            self.assertEqual(event['actorTokenId'], self.org_token_id)
            self.assertEqual(event['targetType'], 'token')
            self.assertEqual(event['target'], token['name'])
            self.assertEqual(event['remoteAddress'], '127.0.0.1')

    def test_project_update_and_revoke_details(self):
        project = self.create_project(name=unique('before'))
        new_name = unique('after')
        self.ok(self.request('PUT', f'/v1/organization/project/{project["projectId"]}',
                             body={'name': new_name}, token=self.org_token))
        event = self.events(targetId=project['projectId'], action='project.update')[0]
        self.assertEqual(event['details'], {'name': {'from': project['projectName'],
                                                     'to': new_name}})
        self.assertEqual(event['targetType'], 'project')
        token_id = project['tokens'][0]['id']
        self.ok(self.request('DELETE', f'/v2/projects/tokens/{token_id}', token=self.org_token))
        event = self.events(targetId=token_id, action='token.revoke')[0]
        self.assertEqual(event['details'], {'status': {'from': 'Active', 'to': 'Revoked'}})

    def test_limit_changes_are_audited_with_details(self):
        project = self.create_project()
        base = (f'/v2/usageLimits/organizations/{self.org_id}/projects/'
                f'{project["projectId"]}/limits')
        limit = self.ok(self.request('POST', base, body={
            'subscriptionType': 'Daily', 'usageUnit': 'Requests', 'softLimit': 1,
            'hardLimit': 2}, token=self.org_token))
        self.ok(self.request('PUT', f'{base}/{limit["id"]}/hardLimit', body={'hardLimit': 5},
                             token=self.org_token))
        self.ok(self.request('DELETE', f'{base}/{limit["id"]}', token=self.org_token))
        events = self.events(targetId=limit['id'])
        self.assertEqual([e['action'] for e in events],
                         ['limit.cancel', 'limit.update', 'limit.create'])
        self.assertEqual(events[1]['details'], {'hardLimit': {'from': 2, 'to': 5}})
        self.assertEqual(events[0]['details'], {'status': {'from': 1, 'to': 4}})
        self.assertEqual(events[2]['target'], project['projectName'])

    def test_console_changes_are_audited_as_the_session_token(self):
        response = self.request('POST', '/v2/console/session', body={'apiToken': self.org_token})
        session = self.ok(response)
        cookie = response.headers.get('Set-Cookie').split(';')[0]
        name = unique('console')
        created = self.ok(self.request('POST', '/v2/organization/tokens', body={'name': name},
                                       headers={'Cookie': cookie,
                                                'X-CSRF-Token': session['csrfToken']}))
        event = self.events(targetId=created['id'])[0]
        self.assertEqual(event['action'], 'token.create')
        self.assertEqual(event['actor'], 'DefaultOrganization')
        self.assertEqual(event['actorTokenId'], self.org_token_id)

    def test_cli_changes_are_audited_once_as_system(self):
        project = self.server.cli('project create', '--name', unique('cli'))
        project_id = project['projectId']
        token = self.server.cli('token create', '--name', unique('cli-tok'))
        self.server.cli('token block', token['id'])
        self.server.cli('token unblock', token['id'])
        self.server.cli('token revoke', token['id'])
        events = self.events(targetId=token['id'])
        self.assertEqual([e['action'] for e in events],
                         ['token.revoke', 'token.unblock', 'token.block', 'token.create'])
        for event in events:
            self.assertEqual(event['actor'], '(system)')
            self.assertEqual(event['actorTokenId'], '')
        self.assertEqual([e['action'] for e in self.events(targetId=project_id)],
                         ['project.create'])
        # The CLI reads the same trail.
        listed = self.server.cli('audit', '--target-id', token['id'])
        self.assertEqual([e['action'] for e in listed['events']],
                         [e['action'] for e in events])
        table = self.server.cli('audit', '--target-id', token['id'], json_out=False)
        self.assertIn('token.block\t(system)', table)

    def test_filters_by_action_actor_and_dates(self):
        other_actor = self.create_org_token(name=unique('actor'))
        created = self.create_org_token(name=unique('target'), token=other_actor['secret'])
        by_actor = self.events(actorTokenId=other_actor['id'])
        self.assertEqual([e['targetId'] for e in by_actor], [created['id']])
        creations = self.events(action='token.create', pageSize=500)
        self.assertIn(created['id'], [e['targetId'] for e in creations])
        self.assertEqual({e['action'] for e in creations}, {'token.create'})
        self.assertEqual(self.events(startDate='2999-01-01'), [])
        self.assertEqual(self.events(endDate='2000-01-01'), [])
        today = by_actor[0]['timestamp'][:10]
        self.assertIn(created['id'], [e['targetId'] for e in self.events(
            startDate=today, endDate=today, pageSize=500)])
        bad = self.request('GET', AUDIT + '?startDate=yesterday', token=self.org_token)
        self.assertEqual(bad.status, 400)

    def test_no_event_ever_contains_a_secret(self):
        project = self.create_project()
        token = self.create_project_token(project['projectId'])
        rotated = self.ok(self.request('POST', f'/v2/tokens/{token["id"]}/rotate',
                                       body={'graceSeconds': 10}, token=self.org_token))
        revealed = self.ok(self.request('POST', f'/v2/tokens/{token["id"]}/reveal',
                                        token=self.org_token))
        text = str(self.events(pageSize=500))
        for secret in (token['secret'], rotated['secret'], revealed['secret'],
                       project['tokens'][0]['secret'], self.org_token):
            self.assertNotIn(secret, text)
