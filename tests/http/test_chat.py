"""API.md section 8: the chat gateway (non-streaming) against the fake upstream, and the
failures of section 2 (502 id 502, 504 id 100) with the record each call leaves."""

import json
import time

from .fake_upstream import ECHO_USAGE, HANG_S, SYSTEM_FINGERPRINT, TOOL_ARGUMENTS, echo_text
from .harness import (CHAT_PATHS, E_ASSISTANT_NOT_FOUND, E_BAD_GATEWAY, E_BAD_INPUT,
                      E_BAD_TOKEN, E_NO_KEY,
                      E_PROVIDER_TIMEOUT, E_SCOPE, PROVIDER, SLOW_PROVIDER, SLOW_TIMEOUT_MS,
                      GatewayTestCase, e_pattern, e_required, expected_costs, unique)


class ChatTests(GatewayTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.project = cls.make_project()
        cls.prompt = 'You are the chat-test assistant; answer briefly.'
        cls.assistant = cls.make_assistant(cls.project.token, name=unique('chat-bot'),
                                           prompt=cls.prompt, temperature=0.25, max_tokens=321)

    def upstream_call(self, marker):
        """The single upstream request that carried marker."""
        found = self.upstream.wait_for(marker, 1, timeout_s=2.0)
        self.assertEqual(len(found), 1, f'upstream requests carrying {marker}: {found!r}')
        return found[0]

    def assertNoKeyInReply(self, response):
        self.assertNoSecretIn(json.dumps(response.body) if not isinstance(response.body, str)
                              else response.body)
        self.assertNoSecretIn(str(response.headers))

    # --- the answer ------------------------------------------------------------------------
    def test_direct_model_call_returns_the_upstream_answer(self):
        text = unique('question')
        response = self.chat(self.project.token, f'{PROVIDER}/echo', text=text)
        body = self.ok(response)
        self.assertIn('application/json', response.headers.get('Content-Type', ''))
        self.assertEqual(body['object'], 'chat.completion')
        self.assertRegex(body['id'], r'^chatcmpl-fake-\d+$')
        self.assertEqual(body['system_fingerprint'], SYSTEM_FINGERPRINT)
        self.assertEqual(body['choices'][0]['message'], {'role': 'assistant',
                                                         'content': echo_text(text)})
        self.assertEqual(body['choices'][0]['finish_reason'], 'stop')
        self.assertNoKeyInReply(response)

    def test_usage_is_extended_with_costs_in_usd(self):
        body = self.ok(self.chat(self.project.token, f'{PROVIDER}/echo'))
        usage = body['usage']
        for key, value in ECHO_USAGE.items():
            self.assertEqual(usage[key], value, key)
        prompt_cost, completion_cost, total = expected_costs(
            PROVIDER, 'echo', ECHO_USAGE['prompt_tokens'], ECHO_USAGE['completion_tokens'])
        self.assertCost(usage['prompt_cost'], prompt_cost, 'prompt_cost')
        self.assertCost(usage['completion_cost'], completion_cost, 'completion_cost')
        self.assertCost(usage['total_cost'], total, 'total_cost')
        self.assertEqual(usage['currency'], 'USD')

    def test_stream_false_is_an_ordinary_json_reply(self):
        text = unique('nostream')
        response = self.chat(self.project.token, f'{PROVIDER}/echo', text=text,
                             extra={'stream': False})
        self.assertIn('application/json', response.headers.get('Content-Type', ''))
        self.assertEqual(self.ok(response)['choices'][0]['message']['content'], echo_text(text))

    def test_costs_follow_the_price_of_the_model_called(self):
        body = self.ok(self.chat(self.project.token, f'{SLOW_PROVIDER}/echo'))
        _p, _c, total = expected_costs(SLOW_PROVIDER, 'echo', ECHO_USAGE['prompt_tokens'],
                                       ECHO_USAGE['completion_tokens'])
        self.assertCost(body['usage']['total_cost'], total)

    def test_all_three_chat_paths_behave_the_same(self):
        for path in CHAT_PATHS:
            with self.subTest(path=path):
                text = unique('path')
                body = self.ok(self.chat(self.project.token, f'{PROVIDER}/echo', text=text,
                                         path=path))
                self.assertEqual(body['choices'][0]['message']['content'], echo_text(text))
                self.assertEqual(body['usage']['currency'], 'USD')
                call = self.upstream_call(text)
                self.assertEqual(call['path'], '/v1/chat/completions')
                self.assertEqual(call['body']['model'], 'echo')

    # --- what the upstream receives ------------------------------------------------------
    def test_upstream_receives_the_key_from_the_environment_as_bearer(self):
        for provider, key in ((PROVIDER, self.api_key), (SLOW_PROVIDER, self.slow_api_key)):
            with self.subTest(provider=provider):
                text = unique('key')
                self.ok(self.chat(self.project.token, f'{provider}/echo', text=text))
                call = self.upstream_call(text)
                self.assertEqual(call['headers'].get('authorization'), f'Bearer {key}')

    def test_upstream_never_receives_the_gatehouse_token(self):
        text = unique('tok')
        self.ok(self.chat(self.project.token, f'{PROVIDER}/echo', text=text))
        call = self.upstream_call(text)
        self.assertNotIn(self.project.token, json.dumps(call['headers']))
        self.assertNotIn(self.project.token, call['raw'].decode())

    def test_direct_call_sends_the_bare_model_name_and_the_client_messages(self):
        text = unique('direct')
        messages = [{'role': 'system', 'content': 'client system'},
                    {'role': 'user', 'content': 'first'},
                    {'role': 'assistant', 'content': 'reply'},
                    {'role': 'user', 'content': text}]
        body = self.ok(self.chat(self.project.token, f'{PROVIDER}/echo', messages=messages))
        self.assertEqual(body['choices'][0]['message']['content'], echo_text(text))
        call = self.upstream_call(text)
        self.assertEqual(call['body']['model'], 'echo')
        self.assertEqual(call['body']['messages'], messages)

    def test_other_body_fields_are_passed_through(self):
        text = unique('extra')
        extra = {'temperature': 0.61, 'max_tokens': 77, 'top_p': 0.5, 'user': 'someone',
                 'stop': ['\n\n'], 'seed': 42}
        self.ok(self.chat(self.project.token, f'{PROVIDER}/echo', text=text, extra=extra))
        sent = self.upstream_call(text)['body']
        for key, value in extra.items():
            self.assertEqual(sent.get(key), value, key)

    def test_the_sdks_thread_id_names_the_session_and_never_reaches_the_provider(self):
        # The reference SDK's chat_completion(thread_id=..., variables=...) sends "threadId" and
        # "variables": not OpenAI fields, which a provider would refuse.
        text, thread = unique('thread'), unique('thread-id')
        self.ok(self.chat(self.project.token, f'{PROVIDER}/echo', text=text,
                          extra={'threadId': thread, 'variables': [{'key': 'k', 'value': 'v'}]}))
        sent = self.upstream_call(text)['body']
        self.assertNotIn('threadId', sent)
        self.assertNotIn('variables', sent)
        self.assertEqual(self.wait_record(thread)['sessionId'], thread)
        # The saia-conversation-id header, when sent too, names the session.
        header_session = unique('header')
        self.ok(self.chat(self.project.token, f'{PROVIDER}/echo', session=header_session,
                          extra={'threadId': unique('ignored')}))
        self.wait_record(header_session)

    def test_a_thread_id_that_is_not_text_is_400_id_11(self):
        response = self.chat(self.project.token, f'{PROVIDER}/echo', extra={'threadId': 7})
        self.assertError(response, e_pattern('threadId'))

    def test_a_call_refused_for_its_query_text_is_recorded_failed(self):
        # Every call of a project token leaves one record, a refusal before the handler too.
        session = unique('squery')
        response = self.chat(self.project.token, f'{PROVIDER}/echo', session=session,
                             path='/v1/chat/completions?x=%FF')
        self.assertError(response, e_pattern('x'))
        record = self.wait_record(session, self.project.token)
        self.assertEqual((record['status'], record['httpStatus']), ('failed', 400))
        self.assertEqual(record['model'], f'{PROVIDER}/echo')

    def test_assistant_call_prepends_its_prompt_as_the_system_message(self):
        text = unique('asst')
        messages = [{'role': 'user', 'content': 'earlier'},
                    {'role': 'assistant', 'content': 'sure'},
                    {'role': 'user', 'content': text}]
        body = self.ok(self.chat(self.project.token,
                                 f'saia:assistant:{self.assistant["assistantName"]}',
                                 messages=messages))
        self.assertEqual(body['choices'][0]['message']['content'], echo_text(text))
        sent = self.upstream_call(text)['body']
        self.assertEqual(sent['model'], 'echo')
        self.assertEqual(sent['messages'][0], {'role': 'system', 'content': self.prompt})
        self.assertEqual(sent['messages'][1:], messages)

    def test_assistant_call_applies_its_temperature_and_max_tokens(self):
        text = unique('settings')
        self.ok(self.chat(self.project.token,
                          f'saia:assistant:{self.assistant["assistantName"]}', text=text))
        sent = self.upstream_call(text)['body']
        self.assertEqual(sent.get('temperature'), 0.25)
        self.assertEqual(sent.get('max_tokens'), 321)

    def test_assistant_call_uses_its_providers_key_and_prices(self):
        slow = self.make_assistant(self.project.token, provider=SLOW_PROVIDER, model='echo')
        text = unique('slow-asst')
        body = self.ok(self.chat(self.project.token, f'saia:assistant:{slow["assistantName"]}',
                                 text=text))
        call = self.upstream_call(text)
        self.assertEqual(call['headers'].get('authorization'), f'Bearer {self.slow_api_key}')
        _p, _c, total = expected_costs(SLOW_PROVIDER, 'echo', ECHO_USAGE['prompt_tokens'],
                                       ECHO_USAGE['completion_tokens'])
        self.assertCost(body['usage']['total_cost'], total)

    def test_assistant_call_after_an_update_uses_the_new_prompt_and_settings(self):
        bot = self.make_assistant(self.project.token, prompt='old prompt')
        self.ok(self.request('PUT', f'/v1/assistant/{bot["assistantId"]}',
                             body={'prompt': 'new prompt',
                                   'llmSettings': {'providerName': PROVIDER, 'modelName': 'echo',
                                                   'temperature': 0.11, 'maxTokens': 12}},
                             token=self.project.token))
        text = unique('updated')
        self.ok(self.chat(self.project.token, f'saia:assistant:{bot["assistantName"]}',
                          text=text))
        sent = self.upstream_call(text)['body']
        self.assertEqual(sent['messages'][0], {'role': 'system', 'content': 'new prompt'})
        self.assertEqual((sent.get('temperature'), sent.get('max_tokens')), (0.11, 12))

    # --- refusals --------------------------------------------------------------------------
    def test_unknown_assistant_is_404_id_1_and_nothing_goes_upstream(self):
        text = unique('nobody')
        response = self.chat(self.project.token, f'saia:assistant:{unique("no-such-bot")}',
                             text=text)
        self.assertError(response, E_ASSISTANT_NOT_FOUND)
        time.sleep(0.2)
        self.assertEqual(self.upstream.requests_with(text), [])

    def test_another_projects_assistant_is_404_id_1(self):
        other = self.make_project()
        self.assertError(self.chat(other.token,
                                   f'saia:assistant:{self.assistant["assistantName"]}'),
                         E_ASSISTANT_NOT_FOUND)

    def test_unknown_provider_or_model_is_400_id_11_naming_model(self):
        for model in ('nope/echo', f'{PROVIDER}/no-such-model', 'echo', f'{PROVIDER}/',
                      '/echo', f'{SLOW_PROVIDER}/stream'):
            with self.subTest(model=model):
                text = unique('badmodel')
                self.assertError(self.chat(self.project.token, model, text=text),
                                 e_pattern('model'))
                self.assertEqual(self.upstream.requests_with(text), [])

    def test_missing_model_is_400_id_9(self):
        response = self.request('POST', '/v1/chat/completions',
                                body={'messages': [{'role': 'user', 'content': 'hi'}]},
                                token=self.project.token)
        self.assertError(response, e_required('model'))

    def test_missing_or_empty_messages_is_400_id_9(self):
        for body in ({'model': f'{PROVIDER}/echo'}, {'model': f'{PROVIDER}/echo', 'messages': []}):
            with self.subTest(body=body):
                response = self.request('POST', '/v1/chat/completions', body=body,
                                        token=self.project.token)
                self.assertError(response, e_required('messages'))

    def test_organization_token_cannot_chat_403_id_7(self):
        for model in (f'{PROVIDER}/echo', f'saia:assistant:{self.assistant["assistantName"]}'):
            for path in CHAT_PATHS:
                with self.subTest(model=model, path=path):
                    text = unique('org-chat')
                    self.assertError(self.chat(self.org_token, model, text=text, path=path),
                                     E_SCOPE)
                    self.assertEqual(self.upstream.requests_with(text), [])

    def test_blocked_token_cannot_chat_401_id_6_and_nothing_goes_upstream(self):
        token = self.make_token(self.project.project_id)
        self.ok(self.request('PUT', f'/v2/projects/tokens/{token.token_id}',
                             body={'status': 'blocked'}, token=self.org_token))
        text = unique('blocked')
        self.assertError(self.chat(token.token, f'{PROVIDER}/echo', text=text), E_BAD_TOKEN)
        time.sleep(0.2)
        self.assertEqual(self.upstream.requests_with(text), [])

    def test_body_that_is_not_json_is_400_id_20(self):
        response = self.request('POST', '/v1/chat/completions', raw_body=b'{"model": "fake/echo",',
                                token=self.project.token)
        self.assertError(response, E_BAD_INPUT)

    def test_conversation_header_name_is_case_insensitive(self):
        session = unique('hdr')
        self.ok(self.chat(self.project.token, f'{PROVIDER}/echo',
                          headers={'SAIA-Conversation-Id': session}))
        self.assertEqual(self.wait_record(session, self.project.token)['sessionId'], session)

    def test_chat_without_credentials_is_401_id_5(self):
        response = self.request('POST', '/v1/chat/completions',
                                body={'model': f'{PROVIDER}/echo',
                                      'messages': [{'role': 'user', 'content': 'hi'}]})
        self.assertError(response, E_NO_KEY)

    # --- provider failures -----------------------------------------------------------------
    def test_upstream_500_is_502_id_502_and_recorded_failed(self):
        session = unique('s500')
        response = self.chat(self.project.token, f'{PROVIDER}/fail-500', session=session)
        self.assertError(response, E_BAD_GATEWAY)
        self.assertNoKeyInReply(response)
        record = self.wait_record(session, self.project.token)
        self.assertEqual((record['status'], record['httpStatus']), ('failed', 502))
        self.assertEqual(record['model'], f'{PROVIDER}/fail-500')

    def test_upstream_garbage_is_502_id_502_and_recorded_failed(self):
        session = unique('sgarbage')
        response = self.chat(self.project.token, f'{PROVIDER}/garbage', session=session)
        self.assertError(response, E_BAD_GATEWAY)
        self.assertNotIn('<html>', json.dumps(response.body))
        record = self.wait_record(session, self.project.token)
        self.assertEqual((record['status'], record['httpStatus']), ('failed', 502))
        self.assertEqual(record['model'], f'{PROVIDER}/garbage')

    def test_upstream_200_without_choices_is_502_id_502_and_recorded_failed(self):
        # JSON, but not a completion (an error object sent with 200): garbage, not a success
        session = unique('snochoices')
        response = self.chat(self.project.token, f'{PROVIDER}/no-choices', session=session)
        self.assertError(response, E_BAD_GATEWAY)
        self.assertNotIn('upstream quota', json.dumps(response.body))
        record = self.wait_record(session, self.project.token)
        self.assertEqual((record['status'], record['httpStatus']), ('failed', 502))

    def test_an_answer_of_tool_calls_only_without_usage_is_not_estimated_free(self):
        session = unique('stools')
        response = self.chat(self.project.token, f'{PROVIDER}/tool-calls', session=session)
        self.assertEqual(response.status, 200, response.body)
        # As a whole answer's text is: a token per 4 code points of the call's name and arguments
        expected = (len('get_weather') + len(TOOL_ARGUMENTS) + 3) // 4
        self.assertEqual(response.body['usage']['completion_tokens'], expected)
        record = self.wait_record(session, self.project.token)
        self.assertEqual((record['status'], record['completionTokens']), ('succeeded', expected))
        self.assertGreater(record['cost'], 0)

    def test_every_server_log_line_is_valid_json(self):
        self.chat(self.project.token, f'{PROVIDER}/fail-500', session=unique('slog'))
        lines = [line for line in self.server.log_text().splitlines() if line.strip()]
        self.assertTrue(lines)
        for line in lines:
            entry = json.loads(line)
            self.assertEqual(set(entry), {'time', 'level', 'msg'})

    def test_a_conversation_id_that_is_not_utf8_is_400_id_11(self):
        response = self.request('POST', '/v1/chat/completions',
                                body={'model': f'{PROVIDER}/echo',
                                      'messages': [{'role': 'user', 'content': 'hi'}]},
                                headers={'saia-conversation-id': 'caf\xe9'},
                                token=self.project.token)
        self.assertError(response, e_pattern('saia-conversation-id'))

    def test_upstream_hang_past_the_timeout_is_504_id_100_and_recorded_failed(self):
        session = unique('shang')
        started = time.monotonic()
        response = self.chat(self.project.token, f'{SLOW_PROVIDER}/hang', session=session)
        elapsed = time.monotonic() - started
        self.assertError(response, E_PROVIDER_TIMEOUT)
        self.assertGreaterEqual(elapsed, SLOW_TIMEOUT_MS / 1000 * 0.9,
                                'answered before the provider timeout')
        self.assertLess(elapsed, SLOW_TIMEOUT_MS / 1000 + 1.5,
                        f'the {SLOW_TIMEOUT_MS} ms timeout was not applied '
                        f'(the upstream hangs {HANG_S} s)')
        record = self.wait_record(session, self.project.token)
        self.assertEqual((record['status'], record['httpStatus']), ('failed', 504))
        self.assertEqual(record['model'], f'{SLOW_PROVIDER}/hang')
        self.assertGreaterEqual(record['elapsedTimeMs'], SLOW_TIMEOUT_MS * 0.9)

    def test_assistant_call_to_a_failing_model_is_502_and_recorded_with_the_assistant(self):
        bot = self.make_assistant(self.project.token, model='fail-500')
        session = unique('sbot500')
        response = self.chat(self.project.token, f'saia:assistant:{bot["assistantName"]}',
                             session=session)
        self.assertError(response, E_BAD_GATEWAY)
        record = self.wait_record(session, self.project.token)
        self.assertEqual((record['status'], record['httpStatus']), ('failed', 502))
        self.assertEqual((record['assistant'], record['intent']), (bot['assistantName'],
                                                                   'default'))

    def test_the_gateway_keeps_serving_after_provider_failures(self):
        for model in (f'{PROVIDER}/fail-500', f'{PROVIDER}/garbage', f'{SLOW_PROVIDER}/hang'):
            self.chat(self.project.token, model)
        text = unique('after')
        body = self.ok(self.chat(self.project.token, f'{PROVIDER}/echo', text=text))
        self.assertEqual(body['choices'][0]['message']['content'], echo_text(text))


class AssistantCatalogTests(GatewayTestCase):
    """The gateway resolves `saia:assistant:` from an in-memory catalog (no store read on the
    event loop): it must follow renames and deletions at once and be rebuilt at start-up."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.project = cls.make_project()

    def test_a_renamed_assistant_answers_by_its_new_name_only(self):
        bot = self.make_assistant(self.project.token, name=unique('before'))
        new_name = unique('after')
        self.ok(self.request('PUT', f'/v1/assistant/{bot["assistantId"]}',
                             body={'name': new_name}, token=self.project.token))
        self.ok(self.chat(self.project.token, f'saia:assistant:{new_name}'))
        self.assertError(self.chat(self.project.token, f'saia:assistant:{bot["assistantName"]}'),
                         E_ASSISTANT_NOT_FOUND)

    def test_a_deleted_assistant_is_404_id_1_at_once(self):
        bot = self.make_assistant(self.project.token)
        self.ok(self.chat(self.project.token, f'saia:assistant:{bot["assistantName"]}'))
        self.ok(self.request('DELETE', f'/v1/assistant/{bot["assistantId"]}',
                             token=self.project.token))
        self.assertError(self.chat(self.project.token, f'saia:assistant:{bot["assistantName"]}'),
                         E_ASSISTANT_NOT_FOUND)

    def test_assistants_resolve_after_a_restart(self):
        bot = self.make_assistant(self.project.token, prompt='kept across restarts')
        self.server.restart()
        text = unique('restarted')
        self.ok(self.chat(self.project.token, f'saia:assistant:{bot["assistantName"]}', text=text))
        sent = self.upstream.wait_for(text, 1, timeout_s=2.0)[0]['body']
        self.assertEqual(sent['messages'][0], {'role': 'system', 'content': 'kept across restarts'})
