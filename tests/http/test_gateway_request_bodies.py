"""Issue 8 (gateway v2), items 6 and 7: chat and embeddings bodies are checked before anything
goes upstream (API.md section 1: keys in any case, relayed as OpenAI spells them), and
max_tokens is one setting."""

import time

from .harness import (E_ASSISTANT_NOT_FOUND, E_CONTENT_TYPE, E_SCOPE, PROVIDER, e_pattern,
                      e_required, unique)
from .gateway_cases import ChatStream
from .gateway_v2_cases import LOAD, GatewayV2Case


class RequestBodyTests(GatewayV2Case):

    def test_malformed_chat_bodies_are_400_id_11_and_never_sent_upstream(self):
        cases = [('stream', {'stream': 'yes'}),
                 ('messages', {'messages': [1]}),
                 ('messages', {'messages': [{'content': 'no role'}]})]
        for field, change in cases:
            with self.subTest(change=change):
                text = unique('malformed')
                body = {'model': f'{PROVIDER}/echo',
                        'messages': [{'role': 'user', 'content': text}]}
                body.update(change)
                response = self.request('POST', '/v1/chat/completions', body=body,
                                        token=self.project.token)
                self.assertError(response, e_pattern(field))
                time.sleep(0.1)
                self.assertEqual(self.upstream.requests_with(text), [])

    def test_chat_body_keys_are_read_in_any_case_and_relayed_as_openai_spells_them(self):
        text = unique('anycase')
        response = self.request('POST', '/v1/chat/completions', token=self.project.token, body={
            'Model': f'{PROVIDER}/echo', 'MESSAGES': [{'Role': 'user', 'CONTENT': text}],
            'Max_Tokens': 7, 'Stream': False, 'user': 'u-1'})
        self.assertEqual(response.status, 200, response.body)
        [call] = self.upstream.wait_for(text)
        self.assertEqual(call['body'], {'model': 'echo', 'max_tokens': 7, 'stream': False,
                                        'user': 'u-1',
                                        'messages': [{'role': 'user', 'content': text}]})

    def test_a_stream_asked_for_in_another_case_is_streamed(self):
        stream = ChatStream(self.server.port, '/v1/chat/completions',
                            {'model': f'{LOAD}/stream-3x50', 'STREAM': True,
                             'messages': [{'role': 'user', 'content': 'hi'}]},
                            self.project.token)
        self.addCleanup(stream.close)
        self.assertEqual(stream.status, 200)
        self.assertTrue(stream.headers['Content-Type'].startswith('text/event-stream'))
        self.assertEqual(stream.read_all()[-1][1], '[DONE]')

    def test_a_body_key_in_two_spellings_goes_upstream_once_its_own_spelling_winning(self):
        text = unique('twice')
        response = self.request('POST', '/v1/chat/completions', token=self.project.token, body={
            'Max_tokens': 3, 'model': f'{PROVIDER}/echo', 'Model': f'{PROVIDER}/nope',
            'messages': [{'role': 'user', 'content': text}], 'max_tokens': 9, 'MAX_TOKENS': 5})
        self.assertEqual(response.status, 200, response.body)
        [call] = self.upstream.wait_for(text)
        self.assertEqual((call['body']['model'], call['body']['max_tokens']), ('echo', 9))
        self.assertEqual(sorted(call['body']), ['max_tokens', 'messages', 'model'])

    def test_embeddings_body_keys_are_read_in_any_case(self):
        response = self.request('POST', '/v1/embeddings', token=self.project.token,
                                body={'MODEL': f'{LOAD}/emb', 'Input': 'embed this'})
        self.assertEqual(response.status, 200, response.body)
        self.assertEqual(self.load.embedding_bodies[-1], {'model': 'emb', 'input': 'embed this'})

    def test_every_problem_of_a_chat_body_is_reported(self):
        response = self.request('POST', '/v1/chat/completions', token=self.project.token,
                                body={'model': 5, 'messages': 'hi', 'stream': 'yes'})
        for field in ('model', 'messages', 'stream'):
            self.assertError(response, e_pattern(field))
        self.assertEqual(len(response.body['errors']), 3, response.body)
        response = self.request('POST', '/v1/embeddings', token=self.project.token, body={})
        for field in ('model', 'input'):
            self.assertError(response, e_required(field))
        # The reference SDK's threadId is checked with the rest.
        response = self.request('POST', '/v1/chat/completions', token=self.project.token,
                                body={'model': f'{PROVIDER}/echo', 'messages': [],
                                      'threadId': 5})
        self.assertError(response, e_pattern('threadId'))
        self.assertError(response, e_required('messages'))

    def test_a_chat_refused_for_its_body_is_recorded_with_the_model_it_named(self):
        session = unique('s-refused-model')
        response = self.request('POST', '/v1/chat/completions', token=self.project.token,
                                body={'model': f'{PROVIDER}/echo', 'stream': 'yes',
                                      'messages': [{'role': 'user', 'content': 'x'}]},
                                headers={'saia-conversation-id': session})
        self.assertError(response, e_pattern('stream'))
        record = self.wait_record(session, self.project.token)
        self.assertEqual((record['status'], record['httpStatus'], record['model']),
                         ('failed', 400, f'{PROVIDER}/echo'))

    def test_a_chat_refused_for_its_body_keeps_the_session_its_thread_id_names(self):
        thread = unique('thread-refused')
        response = self.request('POST', '/v1/chat/completions', token=self.project.token,
                                body={'model': f'{PROVIDER}/echo', 'stream': 'yes',
                                      'threadId': thread,
                                      'messages': [{'role': 'user', 'content': 'x'}]})
        self.assertError(response, e_pattern('stream'))
        record = self.wait_record(thread, self.project.token)
        self.assertEqual((record['status'], record['httpStatus']), ('failed', 400))

    def test_max_tokens_and_max_completion_tokens_are_one_setting_exactly_one_goes_upstream(self):
        text = unique('both')
        self.ok(self.chat(self.project.token, f'{PROVIDER}/echo', text=text,
                          extra={'max_tokens': 10, 'max_completion_tokens': 20}))
        [call] = self.upstream.wait_for(text)
        self.assertNotIn('max_tokens', call['body'])
        self.assertEqual(call['body']['max_completion_tokens'], 20)

    def test_the_assistants_max_tokens_wins_under_the_name_the_client_used(self):
        bot = self.make_assistant(self.project.token, max_tokens=321)
        text = unique('sdk')
        self.ok(self.chat(self.project.token, f'saia:assistant:{bot["assistantName"]}', text=text,
                          extra={'max_completion_tokens': 5}))
        [call] = self.upstream.wait_for(text)
        self.assertEqual(call['body']['max_completion_tokens'], 321)
        self.assertNotIn('max_tokens', call['body'])

    def test_embeddings_bodies_are_checked_before_anything_goes_upstream(self):
        before = len(self.load.embedding_bodies)
        cases = [({'model': f'{LOAD}/emb', 'input': 5}, e_pattern('input')),
                 ({'model': f'{LOAD}/emb', 'input': {'text': 'x'}}, e_pattern('input')),
                 ({'model': 'saia:assistant:bot', 'input': 'x'}, e_pattern('model')),
                 ({'model': f'{LOAD}/emb'}, e_required('input'))]
        for body, error in cases:
            with self.subTest(body=body):
                self.assertError(self.request('POST', '/v1/embeddings', body=body,
                                              token=self.project.token), error)
        self.assertEqual(len(self.load.embedding_bodies), before)

    def test_a_null_stream_is_no_stream_and_a_role_that_is_not_text_is_refused(self):
        text = unique('nullstream')
        response = self.chat(self.project.token, f'{PROVIDER}/echo', text=text,
                             extra={'stream': None})
        self.assertEqual(response.status, 200, response.body)
        self.assertEqual(response.headers['Content-Type'].split(';')[0], 'application/json')
        self.assertError(self.request('POST', '/v1/chat/completions', token=self.project.token,
                                      body={'model': f'{PROVIDER}/echo',
                                            'messages': [{'role': 5, 'content': 'x'}]}),
                         e_pattern('messages'))

    def test_chat_calls_refused_before_the_provider_are_recorded_and_scope_refusals_are_not(self):
        session = unique('s-refused')
        headers = {'saia-conversation-id': session}
        self.assertError(self.request('POST', '/v1/chat/completions', token=self.project.token,
                                      raw_body=b'model=x', headers=headers,
                                      content_type='application/x-www-form-urlencoded'),
                         E_CONTENT_TYPE)
        self.assertError(self.request('POST', '/v1/chat/completions', token=self.project.token,
                                      body={'model': 'saia:assistant:nobody-here',
                                            'messages': [{'role': 'user', 'content': 'x'}]},
                                      headers=headers), E_ASSISTANT_NOT_FOUND)
        records = self.wait_items(lambda i: i.get('sessionId') == session, 2)
        self.assertEqual(sorted((r['status'], r['httpStatus']) for r in records),
                         [('failed', 404), ('failed', 415)])
        # An organization token's call and a call without credentials are no project's call.
        other = unique('s-noscope')
        self.assertError(self.request('POST', '/v1/chat/completions', token=self.org_token,
                                      body={'model': f'{PROVIDER}/echo',
                                            'messages': [{'role': 'user', 'content': 'x'}]},
                                      headers={'saia-conversation-id': other}), E_SCOPE)
        time.sleep(0.5)
        self.assertEqual([i for i in self.export_items() if i.get('sessionId') == other], [])
