"""API.md section 8 (assistants, /v1/assistant) and section 4 (GET /v1/organization/assistants)."""

import time
import uuid
from urllib.parse import quote

from .harness import (E_ASSISTANT_EXISTS, E_ASSISTANT_NOT_FOUND, E_NO_KEY, E_PROJECT_NOT_FOUND,
                      E_SCOPE, PROVIDER, SLOW_PROVIDER, GatewayTestCase, e_pattern, e_required,
                      unique)

ASSISTANT_FIELDS = {'assistantId', 'assistantName', 'description', 'prompt', 'llmSettings',
                    'revision', 'createdAt', 'updatedAt'}


class AssistantCrudTests(GatewayTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.project = cls.make_project()
        cls.other = cls.make_project()

    def assertSettings(self, actual, expected):
        self.assertIsInstance(actual, dict)
        self.assertEqual({k: actual.get(k) for k in expected}, expected)

    def create(self, token=None, **fields):
        return self.make_assistant(token or self.project.token, **fields)

    def get_assistant(self, id_or_name, token=None):
        return self.request('GET', f'/v1/assistant/{quote(id_or_name)}',
                            token=token or self.project.token)

    def put_assistant(self, id_or_name, body, token=None):
        return self.request('PUT', f'/v1/assistant/{quote(id_or_name)}', body=body,
                            token=token or self.project.token)

    def test_create_returns_the_assistant_object_with_revision_1(self):
        before = time.time()
        body = self.assistant_body(prompt='Answer in one line.', temperature=0.7, max_tokens=99)
        created = self.ok(self.request('POST', '/v1/assistant', body=body,
                                       token=self.project.token))
        self.assertTrue(ASSISTANT_FIELDS <= set(created), f'missing fields: {created!r}')
        self.assertUuid4(created['assistantId'])
        self.assertEqual(created['assistantName'], body['name'])
        self.assertEqual(created['description'], body['description'])
        self.assertEqual(created['prompt'], 'Answer in one line.')
        self.assertSettings(created['llmSettings'], {'providerName': PROVIDER,
                                                     'modelName': 'echo', 'temperature': 0.7,
                                                     'maxTokens': 99})
        self.assertEqual(created['revision'], 1)
        self.assertTimestamp(created['createdAt'])
        self.assertTimestamp(created['updatedAt'])
        self.assertGreaterEqual(created['createdAt'][:10],
                                time.strftime('%Y-%m-%d', time.gmtime(before - 1)))

    def test_get_by_id_and_by_name_return_the_created_object(self):
        created = self.create()
        by_id = self.ok(self.get_assistant(created['assistantId']))
        by_name = self.ok(self.get_assistant(created['assistantName']))
        self.assertEqual(by_id, created)
        self.assertEqual(by_name, created)

    def test_put_changing_prompt_increments_revision(self):
        created = self.create()
        updated = self.ok(self.put_assistant(created['assistantId'],
                                             {'prompt': 'A brand new prompt.'}))
        self.assertEqual(updated['revision'], 2)
        self.assertEqual(updated['prompt'], 'A brand new prompt.')
        self.assertEqual(updated['assistantName'], created['assistantName'])
        self.assertEqual(updated['llmSettings'], created['llmSettings'])
        self.assertEqual(self.ok(self.get_assistant(created['assistantId']))['revision'], 2)

    def test_put_changing_llm_settings_increments_revision(self):
        created = self.create()
        settings = {'providerName': SLOW_PROVIDER, 'modelName': 'echo', 'temperature': 0.9,
                    'maxTokens': 50}
        updated = self.ok(self.put_assistant(created['assistantName'],
                                             {'llmSettings': settings}))
        self.assertEqual(updated['revision'], 2)
        self.assertSettings(updated['llmSettings'], settings)
        self.assertEqual(updated['prompt'], created['prompt'])

    def test_put_changing_only_description_keeps_the_revision(self):
        created = self.create()
        updated = self.ok(self.put_assistant(created['assistantId'],
                                             {'description': 'only the description'}))
        self.assertEqual(updated['revision'], 1)
        self.assertEqual(updated['description'], 'only the description')
        self.assertEqual(updated['prompt'], created['prompt'])

    def test_put_can_rename_and_the_new_name_resolves(self):
        created = self.create()
        new_name = unique('renamed')
        updated = self.ok(self.put_assistant(created['assistantId'], {'name': new_name}))
        self.assertEqual(updated['assistantName'], new_name)
        self.assertEqual(self.ok(self.get_assistant(new_name))['assistantId'],
                         created['assistantId'])
        self.assertError(self.get_assistant(created['assistantName']), E_ASSISTANT_NOT_FOUND)

    def test_delete_then_get_put_delete_are_404_id_1(self):
        created = self.create()
        response = self.request('DELETE', f'/v1/assistant/{created["assistantId"]}',
                                token=self.project.token)
        self.assertEqual(response.status, 200, response.body)
        self.assertError(self.get_assistant(created['assistantId']), E_ASSISTANT_NOT_FOUND)
        self.assertError(self.get_assistant(created['assistantName']), E_ASSISTANT_NOT_FOUND)
        self.assertError(self.put_assistant(created['assistantId'], {'prompt': 'x'}),
                         E_ASSISTANT_NOT_FOUND)
        self.assertError(self.request('DELETE', f'/v1/assistant/{created["assistantId"]}',
                                      token=self.project.token), E_ASSISTANT_NOT_FOUND)

    def test_deleted_name_can_be_reused(self):
        created = self.create()
        self.request('DELETE', f'/v1/assistant/{created["assistantId"]}',
                     token=self.project.token)
        again = self.create(name=created['assistantName'])
        self.assertNotEqual(again['assistantId'], created['assistantId'])
        self.assertEqual(again['revision'], 1)

    def test_duplicate_name_in_the_project_is_409_id_2030(self):
        created = self.create()
        body = self.assistant_body(name=created['assistantName'])
        self.assertError(self.request('POST', '/v1/assistant', body=body,
                                      token=self.project.token), E_ASSISTANT_EXISTS)

    def test_renaming_onto_an_existing_name_is_409_id_2030(self):
        first, second = self.create(), self.create()
        self.assertError(self.put_assistant(second['assistantId'],
                                            {'name': first['assistantName']}),
                         E_ASSISTANT_EXISTS)

    def test_same_name_in_another_project_is_allowed(self):
        created = self.create()
        elsewhere = self.create(token=self.other.token, name=created['assistantName'])
        self.assertNotEqual(elsewhere['assistantId'], created['assistantId'])

    def test_unknown_assistant_is_404_id_1(self):
        for target in (str(uuid.uuid4()), unique('nobody')):
            with self.subTest(target=target):
                self.assertError(self.get_assistant(target), E_ASSISTANT_NOT_FOUND)
                self.assertError(self.put_assistant(target, {'prompt': 'x'}),
                                 E_ASSISTANT_NOT_FOUND)
                self.assertError(self.request('DELETE', f'/v1/assistant/{target}',
                                              token=self.project.token), E_ASSISTANT_NOT_FOUND)

    def test_missing_prompt_is_400_id_9(self):
        body = self.assistant_body()
        del body['prompt']
        self.assertError(self.request('POST', '/v1/assistant', body=body,
                                      token=self.project.token), e_required('prompt'))

    def test_missing_name_is_400_id_9(self):
        body = self.assistant_body()
        del body['name']
        self.assertError(self.request('POST', '/v1/assistant', body=body,
                                      token=self.project.token), e_required('name'))

    def test_organization_token_cannot_create_read_update_or_delete_403_id_7(self):
        created = self.create()
        self.assertError(self.request('POST', '/v1/assistant', body=self.assistant_body(),
                                      token=self.org_token), E_SCOPE)
        for target in (created['assistantId'], created['assistantName']):
            with self.subTest(target=target):
                self.assertError(self.get_assistant(target, token=self.org_token), E_SCOPE)
                self.assertError(self.put_assistant(target, {'prompt': 'stolen'},
                                                    token=self.org_token), E_SCOPE)
                self.assertError(self.request('DELETE', f'/v1/assistant/{target}',
                                              token=self.org_token), E_SCOPE)
        self.assertEqual(self.ok(self.get_assistant(created['assistantId'])), created)

    def test_another_projects_token_cannot_see_or_change_the_assistant(self):
        created = self.create()
        for target in (created['assistantId'], created['assistantName']):
            with self.subTest(target=target):
                self.assertOneOfErrors(self.get_assistant(target, token=self.other.token),
                                       [E_ASSISTANT_NOT_FOUND, E_SCOPE])
                self.assertOneOfErrors(self.put_assistant(target, {'prompt': 'stolen'},
                                                          token=self.other.token),
                                       [E_ASSISTANT_NOT_FOUND, E_SCOPE])
                self.assertOneOfErrors(self.request('DELETE', f'/v1/assistant/{target}',
                                                    token=self.other.token),
                                       [E_ASSISTANT_NOT_FOUND, E_SCOPE])
        self.assertEqual(self.ok(self.get_assistant(created['assistantId'])), created)

    def test_no_credentials_is_401_id_5(self):
        self.assertError(self.request('POST', '/v1/assistant', body=self.assistant_body()),
                         E_NO_KEY)
        self.assertError(self.request('GET', f'/v1/assistant/{uuid.uuid4()}'), E_NO_KEY)


class AssistantListingTests(GatewayTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.project = cls.make_project()
        cls.other = cls.make_project()
        cls.alpha = cls.make_assistant(cls.project.token, name=unique('alpha'),
                                       prompt='Alpha prompt v1', model='echo')
        cls.beta = cls.make_assistant(cls.project.token, name=unique('beta'),
                                      prompt='Beta prompt', provider=SLOW_PROVIDER, model='echo')
        cls.foreign = cls.make_assistant(cls.other.token, name=unique('foreign'))
        # alpha gets a second revision
        response = cls.server.request('PUT', f'/v1/assistant/{cls.alpha["assistantId"]}',
                                      body={'prompt': 'Alpha prompt v2'}, token=cls.project.token)
        if response.status != 200:
            raise AssertionError(f'updating alpha: {response.status} {response.body!r}')
        cls.alpha = response.body

    def listing(self, token, **query):
        qs = '&'.join(f'{k}={v}' for k, v in query.items())
        return self.request('GET', '/v1/organization/assistants' + (f'?{qs}' if qs else ''),
                            token=token)

    def test_project_token_lists_its_own_projects_assistants(self):
        body = self.ok(self.listing(self.project.token))
        self.assertEqual(body['projectId'], self.project.project_id)
        self.assertEqual(body['projectName'], self.project.project_name)
        listed = {a['assistantId']: a for a in body['assistants']}
        self.assertEqual(set(listed), {self.alpha['assistantId'], self.beta['assistantId']})
        self.assertEqual(listed[self.alpha['assistantId']],
                         {'assistantId': self.alpha['assistantId'],
                          'assistantName': self.alpha['assistantName']})

    def test_detail_summary_is_the_default_and_has_no_intents(self):
        self.assertEqual(self.ok(self.listing(self.project.token, detail='summary')),
                         self.ok(self.listing(self.project.token)))

    def test_organization_token_lists_a_project_given_by_project_id(self):
        body = self.ok(self.listing(self.org_token, projectId=self.other.project_id))
        self.assertEqual(body['projectId'], self.other.project_id)
        self.assertEqual(body['projectName'], self.other.project_name)
        self.assertEqual([a['assistantId'] for a in body['assistants']],
                         [self.foreign['assistantId']])

    def test_a_malformed_project_id_is_400_id_11_for_a_project_token_too(self):
        # api-decisions: a malformed UUID in a query parameter is 400 id 11, whoever asks;
        # a well-formed id of another project stays out of a project token's scope.
        self.assertError(self.listing(self.project.token, projectId='nope'),
                         e_pattern('projectId'))
        self.assertError(self.listing(self.org_token, projectId='nope'), e_pattern('projectId'))
        self.assertError(self.listing(self.project.token, projectId=self.other.project_id),
                         E_SCOPE)

    def test_query_parameter_names_are_case_insensitive(self):
        expected = self.ok(self.listing(self.org_token, projectId=self.project.project_id,
                                        detail='full'))
        for query in ({'ProjectId': self.project.project_id, 'Detail': 'full'},
                      {'projectid': self.project.project_id, 'DETAIL': 'FULL'}):
            with self.subTest(query=query):
                self.assertEqual(self.ok(self.listing(self.org_token, **query)), expected)

    def test_organization_token_without_project_id_lists_every_assistant_with_its_project(self):
        body = self.ok(self.listing(self.org_token))
        # No top-level project fields: the reference SDK sends no projectId.
        self.assertEqual(set(body), {'assistants'})
        listed = {a['assistantId']: a for a in body['assistants']}
        for assistant, project in ((self.alpha, self.project), (self.beta, self.project),
                                   (self.foreign, self.other)):
            self.assertEqual(listed[assistant['assistantId']],
                             {'assistantId': assistant['assistantId'],
                              'assistantName': assistant['assistantName'],
                              'projectId': project.project_id,
                              'projectName': project.project_name})

    def test_organization_listing_never_shows_another_organizations_assistants(self):
        org = self.create_organization()
        body = self.ok(self.listing(org['apiToken']['secret']))
        self.assertEqual(body, {'assistants': []})

    def test_organization_token_with_an_unknown_project_is_404_id_2005(self):
        self.assertError(self.listing(self.org_token, projectId=str(uuid.uuid4())),
                         E_PROJECT_NOT_FOUND)

    def test_another_organizations_project_is_404_id_2005(self):
        org = self.create_organization()
        self.assertError(self.listing(org['apiToken']['secret'],
                                      projectId=self.project.project_id), E_PROJECT_NOT_FOUND)

    def test_detail_full_has_one_default_intent_with_the_current_revision(self):
        body = self.ok(self.listing(self.project.token, detail='full'))
        listed = {a['assistantId']: a for a in body['assistants']}
        for assistant, revision, provider in ((self.alpha, 2, PROVIDER),
                                              (self.beta, 1, SLOW_PROVIDER)):
            with self.subTest(assistant=assistant['assistantName']):
                entry = listed[assistant['assistantId']]
                self.assertEqual(entry['assistantName'], assistant['assistantName'])
                self.assertEqual(len(entry['intents']), 1, entry)
                intent = entry['intents'][0]
                self.assertTrue({'assistantIntentId', 'assistantIntentName',
                                 'assistantIntentDescription', 'assistantIntentDefaultRevision',
                                 'revisions'} <= set(intent), intent)
                self.assertEqual(intent['assistantIntentName'], 'default')
                self.assertEqual(intent['assistantIntentDefaultRevision'], revision)
                self.assertIsInstance(intent['revisions'], list)
                current = [r for r in intent['revisions'] if r.get('prompt') ==
                           assistant['prompt']]
                self.assertTrue(current, f'no revision with the current prompt: {intent!r}')
                rev = current[-1]
                self.assertTrue({'revisionId', 'revisionName', 'revisionDescription', 'modelId',
                                 'modelName', 'providerName', 'prompt', 'metadata',
                                 'timestamp'} <= set(rev), rev)
                self.assertEqual(rev['modelName'], 'echo')
                self.assertEqual(rev['providerName'], provider)
                self.assertEqual(rev['metadata'], [])
                self.assertTimestamp(rev['timestamp'])

    def test_detail_full_for_an_organization_token_matches_the_project_tokens_view(self):
        by_project = self.ok(self.listing(self.project.token, detail='full'))
        by_org = self.ok(self.listing(self.org_token, detail='full',
                                      projectId=self.project.project_id))
        self.assertEqual(by_org, by_project)

    def test_a_deleted_assistant_leaves_the_listing(self):
        doomed = self.make_assistant(self.other.token)
        before = [a['assistantId'] for a in
                  self.ok(self.listing(self.other.token))['assistants']]
        self.assertIn(doomed['assistantId'], before)
        self.ok(self.request('DELETE', f'/v1/assistant/{doomed["assistantId"]}',
                             token=self.other.token))
        after = [a['assistantId'] for a in self.ok(self.listing(self.other.token))['assistants']]
        self.assertNotIn(doomed['assistantId'], after)

    def test_listing_without_credentials_is_401_id_5(self):
        self.assertError(self.listing(None), E_NO_KEY)
