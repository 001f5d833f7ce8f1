"""API.md sections 8 and 11: providers come from the TOML config; GET /v2/llm/providers lists
them with their models and prices, never with a key."""

import json
import subprocess

from .harness import (CHAT_PATHS, E_METHOD, E_NO_KEY, KEY_ENV, PRICES, PROVIDER,
                      PROVIDER_TIMEOUT_MS, SLOW_PROVIDER, SLOW_TIMEOUT_MS, START_TIMEOUT_S,
                      GatewayTestCase, Server, provider_config)

PROVIDERS_PATH = '/v2/llm/providers'


class ProviderListingTests(GatewayTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.project = cls.make_project()

    def listing(self, token):
        response = self.request('GET', PROVIDERS_PATH, token=token)
        body = self.ok(response)
        self.assertIsInstance(body, dict)
        self.assertIsInstance(body.get('providers'), list, body)
        return response, body['providers']

    def test_organization_token_lists_every_configured_provider_with_models_and_prices(self):
        _response, providers = self.listing(self.org_token)
        by_name = {p['name']: p for p in providers}
        self.assertEqual(set(by_name), {PROVIDER, SLOW_PROVIDER})
        for name, timeout_ms in ((PROVIDER, PROVIDER_TIMEOUT_MS),
                                 (SLOW_PROVIDER, SLOW_TIMEOUT_MS)):
            with self.subTest(provider=name):
                provider = by_name[name]
                self.assertEqual(provider['baseUrl'], self.upstream.base_url)
                self.assertEqual(provider['timeoutMs'], timeout_ms)
                models = {m['name']: (m['inputUsdPerMtok'], m['outputUsdPerMtok'])
                          for m in provider['models']}
                self.assertEqual(models, PRICES[name])

    def test_project_token_lists_the_same_providers(self):
        _r, for_org = self.listing(self.org_token)
        _r, for_project = self.listing(self.project.token)
        self.assertEqual(for_project, for_org)

    def test_listing_never_contains_a_key_or_the_key_variable(self):
        for token in (self.org_token, self.project.token):
            response, providers = self.listing(token)
            raw = json.dumps(response.body)
            self.assertNoSecretIn(raw)
            self.assertNotIn(KEY_ENV, raw, 'the key variable name is not part of the listing')
            for provider in providers:
                for key in list(provider) + [k for m in provider['models'] for k in m]:
                    self.assertNotRegex(key.lower(), 'key|secret|token|authorization',
                                        f'field {key!r} looks like a credential')

    def test_listing_requires_credentials_401_id_5(self):
        self.assertError(self.request('GET', PROVIDERS_PATH), E_NO_KEY)

    def test_provider_objects_have_the_documented_fields(self):
        _r, providers = self.listing(self.org_token)
        for provider in providers:
            self.assertTrue({'name', 'baseUrl', 'timeoutMs', 'models'} <= set(provider), provider)
            for model in provider['models']:
                self.assertTrue({'name', 'inputUsdPerMtok', 'outputUsdPerMtok'} <= set(model),
                                model)

    def test_the_key_is_never_written_to_the_server_log(self):
        # Exercise the provider once so that a careless debug line would show the key.
        self.chat(self.project.token, f'{PROVIDER}/echo')
        self.chat(self.project.token, f'{PROVIDER}/fail-500')
        self.assertNoSecretIn(self.server.log_text(), 'a provider key appeared in the log')


class ProviderConfigErrorTests(GatewayTestCase):
    """A provider without base_url stops start-up with a message naming file, line and key."""

    @classmethod
    def setUpClass(cls):
        cls.server = None

    @classmethod
    def tearDownClass(cls):
        pass

    def run_serve_with(self, config_text):
        server = Server()
        self.addCleanup(server.cleanup)
        server.init()
        path = server.write_config(config_text)
        done = subprocess.run([str(server.binary), 'serve', '--data-dir', str(server.data_dir),
                               '--listen', '127.0.0.1:0', '--config', str(path)],
                              capture_output=True, timeout=START_TIMEOUT_S)
        return path, done

    def test_provider_without_base_url_stops_startup_naming_file_line_and_key(self):
        text = ('[[providers]]\nname = "broken"\napi_key_env = "NOPE"\ntimeout_ms = 1000\n\n'
                '[[providers.models]]\nname = "m"\ninput_usd_per_mtok = 1.0\n'
                'output_usd_per_mtok = 1.0\n')
        path, done = self.run_serve_with(text)
        self.assertNotEqual(done.returncode, 0, 'serve started without a base_url')
        message = (done.stdout + done.stderr).decode(errors='replace')
        self.assertIn(str(path.name), message)
        self.assertIn('base_url', message)

    def test_unknown_provider_key_stops_startup_naming_file_line_and_key(self):
        text = provider_config('http://127.0.0.1:9/v1') + '\n[[providers]]\nname = "x"\n' \
            'base_url = "http://127.0.0.1:9/v1"\napi_kee_env = "TYPO"\n'
        path, done = self.run_serve_with(text)
        self.assertNotEqual(done.returncode, 0, 'serve started with an unknown key')
        message = (done.stdout + done.stderr).decode(errors='replace')
        self.assertIn(str(path.name), message)
        self.assertIn('api_kee_env', message)
        line = text.splitlines().index('api_kee_env = "TYPO"') + 1
        self.assertIn(str(line), message)


class GatewayRouteTests(GatewayTestCase):
    """The issue 3 routes follow the section 2 rules for methods and appear in /openapi.json."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.project = cls.make_project()
        cls.bot = cls.make_assistant(cls.project.token)

    def test_wrong_method_on_the_new_routes_answers_405_with_allow_header(self):
        bot = self.bot['assistantId']
        cases = [(self.project.token, 'GET', path, {'POST'}) for path in CHAT_PATHS] + [
            (self.project.token, 'GET', '/v1/assistant', {'POST'}),
            (self.project.token, 'POST', f'/v1/assistant/{bot}', {'GET', 'PUT', 'DELETE'}),
            (self.org_token, 'POST', '/v1/organization/assistants', {'GET'}),
            (self.org_token, 'DELETE', '/v1/organization/request/export', {'GET'}),
            (self.org_token, 'POST', '/v2/llm/providers', {'GET'}),
            (self.project.token, 'POST', '/v1/models', {'GET'}),
            (self.project.token, 'GET', '/v1/embeddings', {'POST'}),
            (self.org_token, 'POST', f'/v2/llm/providers/{PROVIDER}', {'GET'}),
            (self.org_token, 'PUT', f'/v2/llm/providers/{PROVIDER}/models', {'GET'}),
            (self.org_token, 'DELETE', f'/v2/llm/providers/{PROVIDER}/models/echo', {'GET'}),
        ]
        for token, method, path, allowed in cases:
            with self.subTest(method=method, path=path):
                body = {} if method in ('POST', 'PUT') else None
                response = self.request(method, path, body=body, token=token)
                self.assertError(response, E_METHOD)
                allow = response.headers.get('Allow') or ''
                methods = {m.strip().upper() for m in allow.split(',') if m.strip()}
                self.assertTrue(allowed <= methods, f'Allow: {allow!r}, expected {allowed}')

    def test_openapi_description_lists_the_new_paths(self):
        spec = self.ok(self.request('GET', '/openapi.json'))
        paths = set(spec.get('paths', {}))
        for path in ('/v1/assistant', '/v1/chat/completions', '/chat', '/chat/completions',
                     '/v1/organization/assistants', '/v1/organization/request/export',
                     '/v2/llm/providers'):
            self.assertIn(path, paths)
        self.assertTrue(any(p.startswith('/v1/assistant/{') for p in paths), sorted(paths))
