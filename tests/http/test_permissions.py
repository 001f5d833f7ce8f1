"""API.md section 3, token permissions: allowedModels, allowedAssistants and allowedCidrs on
tokens — set, validated, returned and audited; enforced on chat, embeddings, /v1/models and
every authenticated call (addresses); refusals recorded as failed and free of usage limits."""

import time

from .harness import (E_SCOPE, PROVIDER, GatehouseTestCase, GatewayTestCase, e_pattern, e_range,
                      unique)

E_MODEL = (403, 7, 'Model not allowed for this ApiToken')
E_ASSISTANT = (403, 7, 'Assistant not allowed for this ApiToken')
E_ADDRESS = (403, 7, 'Address not allowed for this ApiToken')
E_QUOTA = (429, 154, 'Quota exceeded.')
E_RATE = (429, 9002, 'Rate limit exceeded')
VALIDATE = '/v1/accessControl/apitoken/validate'


class PermissionFieldTests(GatehouseTestCase):

    def put_project_token(self, token, **fields):
        return self.request('PUT', f'/v2/projects/tokens/{token["id"]}', body=fields,
                            token=self.org_token)

    def test_absent_permissions_are_null_in_the_token_object(self):
        project = self.create_project()
        token = self.create_project_token(project['projectId'])
        self.assertIsNone(token['allowedModels'])
        self.assertIsNone(token['allowedAssistants'])
        self.assertIsNone(token['allowedCidrs'])
        org_token = self.create_org_token()
        self.assertIsNone(org_token['allowedCidrs'])
        self.assertNotIn('allowedModels', org_token)

    def test_lists_are_set_on_create_returned_everywhere_and_cidrs_canonical(self):
        project = self.create_project()
        token = self.create_project_token(
            project['projectId'], allowedModels=['fake/echo', 'fake/str*'],
            allowedAssistants=['support'], allowedCidrs=['10.1.2.3/8', '::1'])
        self.assertEqual(token['allowedModels'], ['fake/echo', 'fake/str*'])
        self.assertEqual(token['allowedAssistants'], ['support'])
        self.assertEqual(token['allowedCidrs'], ['10.0.0.0/8', '::1/128'])
        fetched = self.ok(self.get(f'/v2/projects/tokens/{token["id"]}'))
        self.assertEqual(fetched['allowedCidrs'], ['10.0.0.0/8', '::1/128'])
        listed = self.ok(self.get(f'/v2/tokens?name={token["name"]}'))['tokens'][0]
        self.assertEqual(listed['allowedModels'], ['fake/echo', 'fake/str*'])

    def test_update_replaces_a_list_null_clears_it_and_absent_keeps_it(self):
        project = self.create_project()
        token = self.create_project_token(project['projectId'], allowedModels=['fake/echo'],
                                          allowedAssistants=['a'])
        updated = self.ok(self.put_project_token(token, allowedModels=[]))
        self.assertEqual(updated['allowedModels'], [])
        self.assertEqual(updated['allowedAssistants'], ['a'])
        updated = self.ok(self.put_project_token(token, allowedAssistants=None))
        self.assertIsNone(updated['allowedAssistants'])
        self.assertEqual(updated['allowedModels'], [])

    def test_bad_entries_are_400_with_the_field_named(self):
        project = self.create_project()
        path_headers = {'project-id': project['projectId']}
        cases = [({'allowedCidrs': ['10.0.0.0/33']}, e_pattern('allowedCidrs')),
                 ({'allowedCidrs': ['example.com']}, e_pattern('allowedCidrs')),
                 ({'allowedCidrs': '10.0.0.0/8'}, e_pattern('allowedCidrs')),
                 ({'allowedModels': ['no-provider']}, e_pattern('allowedModels')),
                 ({'allowedModels': [5]}, e_pattern('allowedModels')),
                 ({'allowedModels': ['fake/m'] * 101}, e_range('allowedModels')),
                 ({'allowedAssistants': ['x' * 201]}, e_range('allowedAssistants')),
                 ({'allowedAssistants': ['']}, e_pattern('allowedAssistants'))]
        for fields, error in cases:
            body = {'name': unique('bad')}
            body.update(fields)
            response = self.request('POST', '/v2/projects/tokens', body=body,
                                    token=self.org_token, headers=path_headers)
            self.assertError(response, error, msg=repr(fields))

    def test_organization_token_rejects_model_and_assistant_lists_but_takes_cidrs(self):
        self.assertError(self.request('POST', '/v2/organization/tokens',
                                      body={'name': unique('o'), 'allowedModels': ['fake/x']},
                                      token=self.org_token), e_pattern('allowedModels'))
        self.assertError(self.request('POST', '/v2/organization/tokens',
                                      body={'name': unique('o'), 'allowedAssistants': []},
                                      token=self.org_token), e_pattern('allowedAssistants'))
        org_token = self.create_org_token(allowedCidrs=['127.0.0.1/32'])
        self.assertEqual(org_token['allowedCidrs'], ['127.0.0.1/32'])
        self.assertError(self.request('PUT', f'/v2/organization/tokens/{org_token["id"]}',
                                      body={'allowedModels': ['fake/x']}, token=self.org_token),
                         e_pattern('allowedModels'))

    def test_each_change_is_audited_with_before_and_after(self):
        project = self.create_project()
        token = self.create_project_token(project['projectId'], allowedModels=['fake/echo'])
        self.ok(self.put_project_token(token, allowedModels=['fake/*'], allowedCidrs=['::1']))
        events = self.ok(self.get(f'/v2/audit?targetId={token["id"]}&action=token.update'))
        details = events['events'][0]['details']
        self.assertEqual(details['allowedModels'], {'from': ['fake/echo'], 'to': ['fake/*']})
        self.assertEqual(details['allowedCidrs'], {'from': None, 'to': ['::1/128']})
        self.assertNotIn('allowedAssistants', details)
        created = self.ok(self.get(f'/v2/audit?targetId={token["id"]}&action=token.create'))
        self.assertEqual(created['events'][0]['details']['allowedModels'],
                         {'from': None, 'to': ['fake/echo']})

    def test_rotation_keeps_the_permissions_of_the_token(self):
        project = self.create_project()
        token = self.create_project_token(project['projectId'], allowedCidrs=['192.0.2.0/24'],
                                          allowedModels=['fake/echo'])
        rotated = self.ok(self.request('POST', f'/v2/tokens/{token["id"]}/rotate',
                                       body={'graceSeconds': 0}, token=self.org_token))
        self.assertEqual(rotated['allowedCidrs'], ['192.0.2.0/24'])
        self.assertEqual(rotated['allowedModels'], ['fake/echo'])
        self.assertError(self.request('GET', VALIDATE, token=rotated['secret']), E_ADDRESS)

    def test_permissions_survive_a_restart(self):
        project = self.create_project()
        token = self.create_project_token(project['projectId'], allowedCidrs=['192.0.2.0/24'])
        self.server.restart()
        self.assertError(self.request('GET', VALIDATE, token=token['secret']), E_ADDRESS)


class AddressPermissionTests(GatehouseTestCase):
    """The HTTP tests connect from 127.0.0.1."""

    def test_token_from_an_allowed_block_works_and_from_another_is_403(self):
        project = self.create_project()
        inside = self.create_project_token(project['projectId'], allowedCidrs=['127.0.0.0/8'])
        self.ok(self.request('GET', VALIDATE, token=inside['secret']))
        outside = self.create_project_token(project['projectId'],
                                            allowedCidrs=['192.0.2.0/24', '2001:db8::/32'])
        self.assertError(self.request('GET', VALIDATE, token=outside['secret']), E_ADDRESS)

    def test_empty_cidr_list_refuses_every_address_and_absent_refuses_none(self):
        project = self.create_project()
        nowhere = self.create_project_token(project['projectId'], allowedCidrs=[])
        self.assertError(self.request('GET', VALIDATE, token=nowhere['secret']), E_ADDRESS)
        anywhere = self.create_project_token(project['projectId'])
        self.ok(self.request('GET', VALIDATE, token=anywhere['secret']))

    def test_slash_zero_and_slash_32_edges(self):
        project = self.create_project()
        everyone = self.create_project_token(project['projectId'], allowedCidrs=['0.0.0.0/0'])
        self.ok(self.request('GET', VALIDATE, token=everyone['secret']))
        exact = self.create_project_token(project['projectId'], allowedCidrs=['127.0.0.1/32'])
        self.ok(self.request('GET', VALIDATE, token=exact['secret']))
        neighbour = self.create_project_token(project['projectId'],
                                              allowedCidrs=['127.0.0.2/32'])
        self.assertError(self.request('GET', VALIDATE, token=neighbour['secret']), E_ADDRESS)

    def test_organization_token_address_applies_to_management_calls(self):
        org_token = self.create_org_token(allowedCidrs=['198.51.100.0/24'])
        self.assertError(self.request('GET', '/v1/organization/projects',
                                      token=org_token['secret']), E_ADDRESS)
        self.ok(self.request('PUT', f'/v2/organization/tokens/{org_token["id"]}',
                             body={'allowedCidrs': ['127.0.0.1']}, token=self.org_token))
        self.ok(self.request('GET', '/v1/organization/projects', token=org_token['secret']))

    def test_console_sign_in_from_a_refused_address_is_403(self):
        org_token = self.create_org_token(allowedCidrs=['198.51.100.0/24'])
        self.assertError(self.request('POST', '/v2/console/session',
                                      body={'apiToken': org_token['secret']}), E_ADDRESS)

    def test_an_address_refusal_is_not_a_scope_refusal(self):
        org_token = self.create_org_token(allowedCidrs=[])
        response = self.request('GET', VALIDATE, token=org_token['secret'])
        self.assertError(response, E_ADDRESS)
        self.assertNotEqual(response.body['errors'][0]['description'], E_SCOPE[2])


class ModelPermissionTests(GatewayTestCase):

    def token_with(self, project, **permissions):
        response = self.request('POST', '/v2/projects/tokens',
                                body=dict(name=unique('perm'), **permissions),
                                token=self.org_token, headers={'project-id': project.project_id})
        return self.ok(response)['secret']

    def test_allowed_model_runs_and_another_is_403_with_its_description(self):
        project = self.make_project()
        secret = self.token_with(project, allowedModels=[f'{PROVIDER}/echo'])
        self.ok(self.chat(secret, f'{PROVIDER}/echo'))
        self.assertError(self.chat(secret, f'{PROVIDER}/stream'), E_MODEL)
        # A model that does not exist is refused the same way: nothing is revealed.
        self.assertError(self.chat(secret, f'{PROVIDER}/nope'), E_MODEL)

    def test_pattern_allows_matching_models(self):
        project = self.make_project()
        secret = self.token_with(project, allowedModels=[f'{PROVIDER}/e*'])
        self.ok(self.chat(secret, f'{PROVIDER}/echo'))
        self.assertError(self.chat(secret, f'{PROVIDER}/stream'), E_MODEL)

    def test_empty_model_list_allows_no_model_and_absent_every_model(self):
        project = self.make_project()
        self.assertError(self.chat(self.token_with(project, allowedModels=[]),
                                   f'{PROVIDER}/echo'), E_MODEL)
        self.ok(self.chat(self.token_with(project), f'{PROVIDER}/echo'))

    def test_assistant_allowed_by_name_and_others_refused_before_lookup(self):
        project = self.make_project()
        support, other = unique('support'), unique('other')
        self.make_assistant(project.token, name=support)
        self.make_assistant(project.token, name=other)
        secret = self.token_with(project, allowedAssistants=[support])
        self.ok(self.chat(secret, f'saia:assistant:{support}'))
        self.assertError(self.chat(secret, f'saia:assistant:{other}'), E_ASSISTANT)
        self.assertError(self.chat(secret, 'saia:assistant:does-not-exist'), E_ASSISTANT)
        nothing = self.token_with(project, allowedAssistants=[])
        self.assertError(self.chat(nothing, f'saia:assistant:{support}'), E_ASSISTANT)

    def test_models_listing_shows_only_what_the_token_may_call(self):
        project = self.make_project()
        support = unique('support')
        self.make_assistant(project.token, name=support)
        self.make_assistant(project.token, name=unique('other'))
        secret = self.token_with(project, allowedModels=[f'{PROVIDER}/e*', f'{PROVIDER}/stream'],
                                 allowedAssistants=[support])
        ids = {m['id'] for m in self.ok(self.get('/v1/models', token=secret))['data']}
        self.assertEqual(ids, {f'{PROVIDER}/echo', f'{PROVIDER}/stream',
                               f'saia:assistant:{support}'})
        everything = {m['id'] for m in self.ok(self.get('/v1/models',
                                                        token=project.token))['data']}
        self.assertGreater(len(everything), len(ids))
        none = self.token_with(project, allowedModels=[], allowedAssistants=[])
        self.assertEqual(self.ok(self.get('/v1/models', token=none))['data'], [])

    def test_embeddings_obey_allowed_models(self):
        project = self.make_project()
        secret = self.token_with(project, allowedModels=[f'{PROVIDER}/echo'])
        response = self.request('POST', '/v1/embeddings',
                                body={'model': f'{PROVIDER}/stream', 'input': 'x'}, token=secret)
        self.assertError(response, E_MODEL)

    def test_refused_call_is_recorded_as_failed_403(self):
        project = self.make_project()
        secret = self.token_with(project, allowedModels=[])
        session = unique('refused')
        self.assertError(self.chat(secret, f'{PROVIDER}/echo', session=session), E_MODEL)
        record = self.wait_record(session)
        self.assertEqual(record['status'], 'failed')
        self.assertEqual(record['httpStatus'], 403)
        self.assertEqual(record['model'], f'{PROVIDER}/echo')
        self.assertEqual(record['cost'], 0)

    def test_a_call_refused_for_its_address_is_recorded_as_failed_403(self):
        # API.md §3: refusals are "recorded as failed for model/assistant calls"; the address
        # is checked before the handler, once the token is known.
        project = self.make_project()
        secret = self.token_with(project, allowedCidrs=['192.0.2.0/24'])
        session = unique('address')
        self.assertError(self.chat(secret, f'{PROVIDER}/echo', session=session), E_ADDRESS)
        record = self.wait_record(session)
        self.assertEqual((record['status'], record['httpStatus']), ('failed', 403))
        self.assertEqual(record['model'], f'{PROVIDER}/echo')
        self.assertEqual(record['projectId'], project.project_id)
        self.assertEqual(record['cost'], 0)
        embed_session = unique('address-embed')
        response = self.request('POST', '/v1/embeddings', token=secret,
                                body={'model': f'{PROVIDER}/echo', 'input': 'x'},
                                headers={'saia-conversation-id': embed_session})
        self.assertError(response, E_ADDRESS)
        record = self.wait_record(embed_session)
        self.assertEqual((record['status'], record['httpStatus']), ('failed', 403))
        self.assertEqual(record['module'], 'embeddings')

    def test_a_call_refused_for_its_tokens_rate_is_recorded_as_failed_429(self):
        project = self.make_project()
        secret = self.token_with(project, rateLimitPerMinute=1)
        self.ok(self.chat(secret, f'{PROVIDER}/echo'))
        session = unique('rate')
        self.assertError(self.chat(secret, f'{PROVIDER}/echo', session=session), E_RATE)
        record = self.wait_record(session)
        self.assertEqual((record['status'], record['httpStatus']), ('failed', 429))
        self.assertEqual(record['model'], f'{PROVIDER}/echo')

    def test_a_refused_calls_record_takes_its_session_from_the_sdks_thread_id(self):
        # The reference SDK names the conversation with "threadId" in the body, not with the
        # saia-conversation-id header: a refused call's record carries it as well.
        project = self.make_project()
        secret = self.token_with(project, rateLimitPerMinute=1)
        self.ok(self.chat(secret, f'{PROVIDER}/echo'))
        thread = unique('refused-thread')
        self.assertError(self.chat(secret, f'{PROVIDER}/echo', extra={'threadId': thread}),
                         E_RATE)
        record = self.wait_record(thread)
        self.assertEqual((record['status'], record['httpStatus']), ('failed', 429))

    def test_a_refused_management_call_leaves_no_record(self):
        # Only calls that run models are records; /validate refused for its address is not.
        project = self.make_project()
        secret = self.token_with(project, allowedCidrs=['192.0.2.0/24'])
        self.assertError(self.get('/v1/accessControl/apitoken/validate', token=secret),
                         E_ADDRESS)
        session = unique('after')  # a later call of the project is recorded, alone
        self.ok(self.chat(project.token, f'{PROVIDER}/echo', session=session))
        self.wait_record(session)
        time.sleep(0.3)
        self.assertEqual([item['sessionId'] for item in
                          self.export_items(projectId=project.project_id)], [session])

    def test_refused_calls_cost_nothing_against_a_requests_limit(self):
        project = self.make_project()
        path = (f'/v2/usageLimits/organizations/{self.org_id}/projects/'
                f'{project.project_id}/limits')
        self.ok(self.request('POST', path, body={
            'subscriptionType': 'Monthly', 'usageUnit': 'Requests', 'softLimit': 1,
            'hardLimit': 1, 'renewalStatus': 'Renewable'}, token=self.org_token))
        refused = self.token_with(project, allowedModels=[])
        for _ in range(3):
            self.assertError(self.chat(refused, f'{PROVIDER}/echo'), E_MODEL)
        active = self.ok(self.get(path + '/active'))
        self.assertEqual(active['usedAmount'], 0)
        self.ok(self.chat(project.token, f'{PROVIDER}/echo'))
        self.assertError(self.chat(project.token, f'{PROVIDER}/echo'), E_QUOTA)

    def test_a_permission_change_takes_effect_at_once(self):
        project = self.make_project()
        response = self.ok(self.request('POST', '/v2/projects/tokens',
                                        body={'name': unique('live')}, token=self.org_token,
                                        headers={'project-id': project.project_id}))
        self.ok(self.chat(response['secret'], f'{PROVIDER}/echo'))
        self.ok(self.request('PUT', f'/v2/projects/tokens/{response["id"]}',
                             body={'allowedModels': [f'{PROVIDER}/stream']},
                             token=self.org_token))
        self.assertError(self.chat(response['secret'], f'{PROVIDER}/echo'), E_MODEL)


if __name__ == '__main__':
    import unittest
    unittest.main()
