"""Issue 8 (gateway v2), item 8: more of the OpenAI surface: /v1/embeddings relayed and metered,
/v1/models for the calling project token, and the provider routes."""

import urllib.parse

from .harness import E_BAD_ENDPOINT, E_BAD_TOKEN, E_NO_KEY, E_SCOPE, e_pattern, unique
from .load_upstream import EMBED_USAGE
from .gateway_v2_cases import LOAD, SLASHED_MODEL, GatewayV2Case


class OpenAiSurfaceTests(GatewayV2Case):

    def test_embeddings_are_relayed_metered_and_recorded_with_module_embeddings(self):
        session = unique('s-emb')
        response = self.request('POST', '/v1/embeddings', token=self.project.token,
                                body={'model': f'{LOAD}/emb', 'input': 'embed this'},
                                headers={'saia-conversation-id': session})
        body = self.ok(response)
        self.assertEqual(body['data'][0]['embedding'], [0.25, -0.5, 0.125])
        self.assertAlmostEqual(body['usage']['total_cost'], EMBED_USAGE['prompt_tokens'] / 1e6)
        self.assertEqual(self.load.embedding_bodies[-1]['model'], 'emb')
        record = self.wait_record(session, self.project.token)
        self.assertEqual(record['module'], 'embeddings')
        self.assertEqual((record['promptTokens'], record['completionTokens']),
                         (EMBED_USAGE['prompt_tokens'], 0))
        self.assertEqual(record['status'], 'succeeded')

    def test_embeddings_need_a_project_token_and_a_known_model(self):
        self.assertError(self.request('POST', '/v1/embeddings', token=self.org_token,
                                      body={'model': f'{LOAD}/emb', 'input': 'x'}), E_SCOPE)
        self.assertError(self.request('POST', '/v1/embeddings', token=self.project.token,
                                      body={'model': 'nope/emb', 'input': 'x'}),
                         e_pattern('model'))

    def test_v1_models_lists_what_the_project_token_can_call(self):
        bot = self.make_assistant(self.project.token)
        body = self.ok(self.request('GET', '/v1/models', token=self.project.token))
        self.assertEqual(body['object'], 'list')
        ids = {item['id']: item for item in body['data']}
        self.assertEqual(ids[f'{LOAD}/fixed'],
                         {'id': f'{LOAD}/fixed', 'object': 'model', 'created': 0,
                          'owned_by': LOAD})
        self.assertEqual(ids[f'saia:assistant:{bot["assistantName"]}']['owned_by'], 'assistant')
        other = self.make_project()
        other_ids = {i['id'] for i in self.ok(self.request('GET', '/v1/models',
                                                           token=other.token))['data']}
        self.assertNotIn(f'saia:assistant:{bot["assistantName"]}', other_ids)
        self.assertError(self.request('GET', '/v1/models', token=self.org_token), E_SCOPE)

    def test_v1_models_leaves_out_an_assistant_that_has_no_model_to_run(self):
        # API.md §8: /v1/models is "what this project token can call".
        name = unique('no-model')
        self.ok(self.request('POST', '/v1/assistant', token=self.project.token,
                             body={'name': name, 'prompt': 'p'}))
        ids = {i['id'] for i in self.ok(self.request('GET', '/v1/models',
                                                     token=self.project.token))['data']}
        self.assertNotIn(f'saia:assistant:{name}', ids)
        self.ok(self.request('PUT', f'/v1/assistant/{name}', token=self.project.token,
                             body={'llmSettings': {'providerName': LOAD, 'modelName': 'fixed'}}))
        ids = {i['id'] for i in self.ok(self.request('GET', '/v1/models',
                                                     token=self.project.token))['data']}
        self.assertIn(f'saia:assistant:{name}', ids)

    def test_provider_routes_return_one_provider_its_models_and_one_model(self):
        listed = self.ok(self.request('GET', '/v2/llm/providers', token=self.org_token))
        [entry] = [p for p in listed['providers'] if p['name'] == LOAD]
        self.assertEqual(self.ok(self.request('GET', f'/v2/llm/providers/{LOAD}',
                                              token=self.org_token)), entry)
        self.assertEqual(self.ok(self.request('GET', f'/v2/llm/providers/{LOAD}/models',
                                              token=self.project.token)),
                         {'models': entry['models']})
        [fixed] = [m for m in entry['models'] if m['name'] == 'fixed']
        self.assertEqual(self.ok(self.request('GET', f'/v2/llm/providers/{LOAD}/models/fixed',
                                              token=self.org_token)), fixed)
        for path in ('/v2/llm/providers/nope', '/v2/llm/providers/nope/models',
                     f'/v2/llm/providers/{LOAD}/models/nope'):
            self.assertError(self.request('GET', path, token=self.org_token), E_BAD_ENDPOINT)

    def test_the_provider_routes_answer_either_scope_and_refuse_bad_credentials(self):
        paths = [f'/v2/llm/providers/{LOAD}', f'/v2/llm/providers/{LOAD}/models',
                 f'/v2/llm/providers/{LOAD}/models/fixed']
        for path in paths:
            for token in (self.org_token, self.project.token):
                with self.subTest(path=path, scope='org' if token == self.org_token else 'project'):
                    self.ok(self.request('GET', path, token=token))
        blocked = self.make_token(self.project.project_id)
        self.ok(self.request('PUT', f'/v2/projects/tokens/{blocked.token_id}',
                             body={'status': 'blocked'}, token=self.org_token))
        calls = [('GET', path, None) for path in paths + ['/v1/models']] + [
            ('POST', '/v1/embeddings', {'model': f'{LOAD}/emb', 'input': 'x'})]
        for method, path, body in calls:
            with self.subTest(path=path):
                self.assertError(self.request(method, path, body=body, token=None), E_NO_KEY)
                self.assertError(self.request(method, path, body=body, token=blocked.token),
                                 E_BAD_TOKEN)

    def test_v1_models_leaves_out_a_provider_configured_without_models(self):
        ids = {i['id'] for i in self.ok(self.request('GET', '/v1/models',
                                                     token=self.project.token))['data']}
        self.assertIn(f'{LOAD}/fixed', ids)
        self.assertFalse([i for i in ids if i.startswith('unpriced/')], ids)

    def test_a_model_whose_name_has_a_slash_is_fetched_with_the_slash_percent_encoded(self):
        encoded = urllib.parse.quote(SLASHED_MODEL, safe='')
        self.assertEqual(encoded, 'vendor%2Fmodel-1')
        body = self.ok(self.request('GET', f'/v2/llm/providers/slashed/models/{encoded}',
                                    token=self.org_token))
        self.assertEqual(body['name'], SLASHED_MODEL)
        self.assertError(self.request('GET', f'/v2/llm/providers/slashed/models/{SLASHED_MODEL}',
                                      token=self.org_token), E_BAD_ENDPOINT)
