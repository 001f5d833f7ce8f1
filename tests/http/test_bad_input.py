"""API.md sections 1-2: malformed bodies and invalid fields are 400s that change nothing."""

from types import SimpleNamespace
from urllib.parse import quote

from .harness import (E_BAD_INPUT, E_PROJECT_NOT_FOUND, E_TOKEN_NOT_FOUND, GatehouseTestCase,
                      e_pattern, e_range, e_required, unique)


class BadBodyTests(GatehouseTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.project = cls.server.request(
            'POST', '/v1/organization/project', body={'name': unique('bad-input')},
            token=cls.server.org_token).body
        cls.project_id = cls.project['projectId']
        cls.project_token_id = cls.project['tokens'][0]['id']

    def targets(self):
        """(method, path, extra headers) of every endpoint that takes a JSON object body."""
        pid, tid = self.project_id, self.project_token_id
        return [
            ('POST', '/v1/organization/project', {}),
            ('PUT', f'/v1/organization/project/{pid}', {}),
            ('POST', '/v2/projects/tokens', {'project-id': pid}),
            ('PUT', f'/v2/projects/tokens/{tid}', {}),
            ('POST', '/v2/organization/tokens', {}),
            ('PUT', f'/v2/organization/tokens/{self.org_token_id}', {}),
            ('POST', f'/v2/tokens/{tid}/rotate', {}),
        ]

    def assertBadInputChangesNothing(self, raw_body):
        before = self.snapshot()
        for method, path, headers in self.targets():
            with self.subTest(method=method, path=path, body=raw_body[:40]):
                response = self.request(method, path, raw_body=raw_body, headers=headers,
                                        token=self.org_token)
                self.assertError(response, E_BAD_INPUT)
        self.assertEqual(self.snapshot(), before)

    def test_invalid_json_is_400_id_20_and_changes_nothing(self):
        self.assertBadInputChangesNothing(b'{"name": "broken",')

    def test_json_with_trailing_garbage_is_400_id_20(self):
        self.assertBadInputChangesNothing(b'{"name": "trailing"} x')

    def test_json_array_is_400_id_20_and_changes_nothing(self):
        self.assertBadInputChangesNothing(b'[{"name": "in-an-array"}]')

    def test_json_scalar_is_400_id_20_and_changes_nothing(self):
        for raw in (b'"just a string"', b'42', b'null', b'true'):
            self.assertBadInputChangesNothing(raw)

    def test_invalid_utf8_is_400_id_20_and_changes_nothing(self):
        self.assertBadInputChangesNothing(b'{"name": "bad-\xff\xfe-utf8"}')

    def test_overlong_utf8_encoding_is_400_id_20(self):
        # 0xC0 0xAF is an overlong '/', forbidden in UTF-8.
        self.assertBadInputChangesNothing(b'{"name": "over\xc0\xaflong"}')


class FieldValidationTests(GatehouseTestCase):

    def post_project(self, body):
        return self.request('POST', '/v1/organization/project', body=body, token=self.org_token)

    def test_missing_project_name_is_400_id_9_and_changes_nothing(self):
        before = self.snapshot()
        self.assertError(self.post_project({'description': 'no name'}), e_required('name'))
        self.assertEqual(self.snapshot(), before)

    def test_empty_json_object_is_400_id_9_name_required(self):
        self.assertError(self.post_project({}), e_required('name'))

    def test_project_name_of_101_chars_is_400_id_8_and_changes_nothing(self):
        before = self.snapshot()
        self.assertError(self.post_project({'name': 'n' * 101}), e_range('name'))
        self.assertEqual(self.snapshot(), before)

    def test_project_name_of_100_chars_is_accepted(self):
        name = unique('p')[:12] + 'n' * 88
        self.assertEqual(len(name), 100)
        self.assertEqual(self.ok(self.post_project({'name': name}))['projectName'], name)

    def test_project_name_length_counts_characters_after_trimming(self):
        name = unique('trim')
        body = self.ok(self.post_project({'name': f'   {name}   '}))
        self.assertEqual(body['projectName'], name)
        padded = '  ' + 'm' * 100 + '  '
        self.assertEqual(self.post_project({'name': padded}).status, 200)

    def test_blank_project_name_is_rejected_and_changes_nothing(self):
        before = self.snapshot()
        response = self.post_project({'name': '    '})
        self.assertOneOfErrors(response, [e_required('name'), e_range('name')])
        self.assertEqual(self.snapshot(), before)

    def test_project_description_of_1001_chars_is_400_id_8(self):
        before = self.snapshot()
        response = self.post_project({'name': unique('desc'), 'description': 'd' * 1001})
        self.assertError(response, e_range('description'))
        self.assertEqual(self.snapshot(), before)

    def test_project_description_of_1000_chars_is_accepted(self):
        body = self.ok(self.post_project({'name': unique('desc'), 'description': 'd' * 1000}))
        self.assertEqual(body['projectDescription'], 'd' * 1000)

    def test_malformed_administrator_email_is_400_id_11_and_changes_nothing(self):
        before = self.snapshot()
        for email in ('not-an-email', 'a@', '@b.com', 'a b@c.com'):
            with self.subTest(email=email):
                response = self.post_project({'name': unique('mail'),
                                              'administratorUserEmail': email})
                self.assertError(response, e_pattern('administratorUserEmail'))
        self.assertEqual(self.snapshot(), before)

    def test_valid_administrator_email_is_accepted(self):
        response = self.post_project({'name': unique('mail'),
                                      'administratorUserEmail': 'admin@example.com'})
        self.assertEqual(response.status, 200, response.body)

    def test_bad_token_status_enum_is_400_id_11_and_changes_nothing(self):
        project = self.create_project()
        token = project['tokens'][0]
        before = self.snapshot()
        response = self.request('PUT', f'/v2/projects/tokens/{token["id"]}',
                                body={'status': 'sleeping'}, token=self.org_token)
        self.assertError(response, e_pattern('status'))
        response = self.request('POST', '/v2/projects/tokens',
                                body={'name': unique('t'), 'status': 'paused'},
                                headers={'project-id': project['projectId']},
                                token=self.org_token)
        self.assertError(response, e_pattern('status'))
        self.assertEqual(self.snapshot(), before)

    def test_malformed_expires_at_is_400_id_11(self):
        project = self.create_project()
        before = self.snapshot()
        for value in ('tomorrow', '2026-13-45', '2026-01-01T25:00:00Z'):
            with self.subTest(expiresAt=value):
                response = self.request('POST', '/v2/projects/tokens',
                                        body={'name': unique('t'), 'expiresAt': value},
                                        headers={'project-id': project['projectId']},
                                        token=self.org_token)
                self.assertError(response, e_pattern('expiresAt'))
        self.assertEqual(self.snapshot(), before)

    def test_token_name_of_101_chars_is_400_id_8(self):
        before = self.snapshot()
        response = self.request('POST', '/v2/organization/tokens', body={'name': 't' * 101},
                                token=self.org_token)
        self.assertError(response, e_range('name'))
        self.assertEqual(self.snapshot(), before)

    def test_missing_token_name_is_400_id_9(self):
        response = self.request('POST', '/v2/organization/tokens', body={'description': 'x'},
                                token=self.org_token)
        self.assertError(response, e_required('name'))

    def test_malformed_project_id_header_is_rejected(self):
        response = self.request('POST', '/v2/projects/tokens', body={'name': unique('t')},
                                headers={'project-id': 'not-a-uuid'}, token=self.org_token)
        self.assertOneOfErrors(response, [e_pattern('projectId'), E_PROJECT_NOT_FOUND])

    def test_validation_failure_changes_nothing_on_update(self):
        project = self.create_project(description='kept')
        pid = project['projectId']
        response = self.request('PUT', f'/v1/organization/project/{pid}',
                                body={'name': 'n' * 101, 'description': 'changed'},
                                token=self.org_token)
        self.assertError(response, e_range('name'))
        after = self.ok(self.get(f'/v1/organization/project/{pid}'))
        self.assertEqual(after['projectName'], project['projectName'])
        self.assertEqual(after['projectDescription'], 'kept')

    def test_unknown_json_keys_are_ignored(self):
        name = unique('extra')
        body = self.ok(self.post_project({'name': name, 'colour': 'blue', 'nested': {'a': 1}}))
        self.assertEqual(body['projectName'], name)
        self.assertNotIn('colour', body)


# --- issue 12: one table of hostile inputs over every endpoint ------------------------------

ANY_4XX = None
E_NOT_FOUND_ROWS = (E_PROJECT_NOT_FOUND, E_TOKEN_NOT_FOUND)
SQL = "x' OR '1'='1'; DROP TABLE api_tokens; --"
SQL_Q = quote(SQL, safe='')
DEEP_JSON = b'[' * 100_000 + b']' * 100_000


def row(label, method, path, expected=ANY_4XX, body=None, raw=None, headers=None, as_='org'):
    return SimpleNamespace(label=label, method=method, path=path, expected=expected, body=body,
                           raw=raw, headers=headers or {}, as_=as_)


class BadInputTableTests(GatehouseTestCase):
    """Malformed JSON, wrong types, huge numbers, negative paging, bad UUIDs and dates, unknown
    enum values, invalid UTF-8, control characters and SQL metacharacters, over every endpoint
    that reads input: each answer is a 4xx envelope of API.md §2, and the store is unchanged."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        project = cls.server.request('POST', '/v1/organization/project',
                                     body={'name': unique('hostile')},
                                     token=cls.server.org_token).body
        cls.pid = project['projectId']
        cls.tid = project['tokens'][0]['id']
        cls.project_token = project['tokens'][0]['secret']

    def body_rows(self):
        pid, tid, oid = self.pid, self.tid, self.org_token_id
        targets = [
            ('POST', '/v1/organization/project', {}, 'org'),
            ('PUT', f'/v1/organization/project/{pid}', {}, 'org'),
            ('POST', '/v2/projects/tokens', {'project-id': pid}, 'org'),
            ('PUT', f'/v2/projects/tokens/{tid}', {}, 'org'),
            ('POST', '/v2/organization/tokens', {}, 'org'),
            ('PUT', f'/v2/organization/tokens/{oid}', {}, 'org'),
            ('POST', f'/v2/tokens/{tid}/rotate', {}, 'org'),
            ('POST', '/v2/admin/organizations', {}, 'admin'),
            ('POST', '/v1/assistant', {}, 'project'),
            ('POST', '/v2/console/session', {}, 'none'),
            ('POST', '/v1/chat/completions', {}, 'project'),
            ('POST', '/v1/embeddings', {}, 'project'),
        ]
        raws = {
            'truncated JSON': b'{"name": "x",',
            'single quotes': b"{'name': 'x'}",
            'bare NaN': b'{"name": NaN}',
            'duplicate closing brace': b'{"name": "x"}}',
            'deeply nested arrays': DEEP_JSON,
            'invalid UTF-8': b'{"name": "\xc3\x28"}',
            'raw NUL byte inside a string': b'{"name": "a\x00b"}',
            'SQL outside a string': ('{"name": ' + SQL + '}').encode(),
        }
        rows = []
        for method, path, headers, as_ in targets:
            for label, raw in raws.items():
                rows.append(row(f'{label}: {method} {path}', method, path, E_BAD_INPUT, raw=raw,
                                headers=headers, as_=as_))
        # Wrong types and out-of-range numbers, field by field.
        name = unique('never-stored')
        typed = [
            ('POST', '/v1/organization/project', {'name': 123}, e_pattern('name')),
            ('POST', '/v1/organization/project', {'name': ['x']}, e_pattern('name')),
            ('POST', '/v1/organization/project', {'name': {'x': 1}}, e_pattern('name')),
            ('POST', '/v1/organization/project', {'name': name, 'description': False},
             e_pattern('description')),
            ('POST', '/v1/organization/project', {'name': name, 'administratorUserEmail': 7},
             e_pattern('administratorUserEmail')),
            ('PUT', f'/v1/organization/project/{pid}', {'name': name, 'active': 'yes'},
             e_pattern('active')),
            ('POST', '/v2/organization/tokens', {'name': name, 'status': 1}, e_pattern('status')),
            ('POST', '/v2/organization/tokens', {'name': name, 'status': 'revoked'},
             e_pattern('status')),
            ('POST', '/v2/organization/tokens', {'name': name, 'status': SQL}, e_pattern('status')),
            ('POST', '/v2/organization/tokens', {'name': name, 'expiresAt': 1234567890},
             e_pattern('expiresAt')),
            ('POST', '/v2/organization/tokens', {'name': name, 'expiresAt': '2026-02-30'},
             e_pattern('expiresAt')),
            ('POST', '/v2/organization/tokens', {'name': name, 'expiresAt': SQL},
             e_pattern('expiresAt')),
            ('PUT', f'/v2/projects/tokens/{tid}', {'status': 'paused'}, e_pattern('status')),
            ('POST', f'/v2/tokens/{tid}/rotate', {'graceSeconds': '10'}, e_pattern('graceSeconds')),
            ('POST', f'/v2/tokens/{tid}/rotate', {'graceSeconds': 1.5}, e_pattern('graceSeconds')),
            ('POST', f'/v2/tokens/{tid}/rotate', {'graceSeconds': -1}, e_range('graceSeconds')),
            ('POST', f'/v2/tokens/{tid}/rotate', {'graceSeconds': 86401},
             e_range('graceSeconds')),
            ('POST', f'/v2/tokens/{tid}/rotate', {'graceSeconds': 10**20},
             e_range('graceSeconds')),
            ('POST', f'/v2/tokens/{tid}/rotate', {'graceSeconds': -10**20},
             e_range('graceSeconds')),
            ('POST', f'/v2/tokens/{tid}/rotate', {'graceSeconds': 1e300},
             e_range('graceSeconds')),
        ]
        for method, path, body, expected in typed:
            headers = {'project-id': pid} if path == '/v2/projects/tokens' else {}
            rows.append(row(f'{body!r}: {method} {path}', method, path, expected, body=body,
                            headers=headers))
        rows.append(row('console sign-in with a number', 'POST', '/v2/console/session',
                        e_pattern('apiToken'), body={'apiToken': 5}, as_='none'))
        rows.append(row('assistant with a string temperature', 'POST', '/v1/assistant',
                        body={'name': name, 'prompt': 'p',
                              'llmSettings': {'providerName': 'x', 'modelName': 'y',
                                              'temperature': 'hot'}}, as_='project'))
        return rows

    def query_rows(self):
        pid = self.pid
        bad = {
            '/v2/tokens': {
                'scope': ['galaxy', SQL_Q], 'status': ['sleeping', 'Revoked%00'],
                'orderKey': ['password', SQL_Q], 'orderDirection': ['sideways'],
                'startPage': ['0', '-1', 'abc', '1%20OR%201=1', '99999999999999999999'],
                'pageSize': ['0', '-5', '501', '1e3', '99999999999999999999'],
                'name': ['a%00b', '%FF', '%1B%5B2J', 'x%7F'], 'projectName': ['%0A', '%C0%AF'],
            },
            '/v1/organization/projects': {'detail': ['everything', SQL_Q], 'name': ['a%00b']},
            '/v1/organization/request/export': {
                'status': ['maybe'], 'format': ['xml', SQL_Q], 'skip': ['-1', 'x'],
                'count': ['-1', '99999999999999999999'],
                'startDate': ['2026-13-01', 'tomorrow', SQL_Q, '2026-01-01T25:00:00Z'],
                'endDate': ['2026-02-30', '99999-01-01'], 'projectId': ['not-a-uuid', SQL_Q],
                'assistantName': ['%00'], 'apiToken': ['a%0Ab'],
            },
            '/v1/organization/assistants': {'detail': ['bogus'], 'projectId': ['%00', SQL_Q]},
            '/v2/audit': {'startPage': ['-1'], 'pageSize': ['0', '100000']},
        }
        rows = []
        for path, params in bad.items():
            for name, values in params.items():
                for value in values:
                    rows.append(row(f'{path}?{name}={value}', 'GET', f'{path}?{name}={value}'))
        for name, value in (('startPage', '-1'), ('pageSize', '0'), ('orderDirection', 'up'),
                            ('filterValue', '%00'), ('filterKey', 'secret')):
            rows.append(row(f'admin ?{name}={value}', 'GET',
                            f'/v2/admin/organizations?{name}={value}', as_='admin'))
        return rows

    def id_rows(self):
        rows = []
        for bad_id in ('not-a-uuid', SQL_Q, '%00', 'A' * 300,
                       '00000000-0000-4000-8000-000000000000'):
            for method, template, expected, as_ in (
                    ('GET', '/v1/organization/project/{}', E_PROJECT_NOT_FOUND, 'org'),
                    ('PUT', '/v1/organization/project/{}', E_PROJECT_NOT_FOUND, 'org'),
                    ('DELETE', '/v1/organization/project/{}', E_PROJECT_NOT_FOUND, 'org'),
                    ('GET', '/v1/organization/project/{}/tokens', E_PROJECT_NOT_FOUND, 'org'),
                    ('GET', '/v2/projects/tokens/{}', E_TOKEN_NOT_FOUND, 'org'),
                    ('PUT', '/v2/projects/tokens/{}', E_TOKEN_NOT_FOUND, 'org'),
                    ('DELETE', '/v2/projects/tokens/{}', E_TOKEN_NOT_FOUND, 'org'),
                    ('GET', '/v2/organization/tokens/{}', E_TOKEN_NOT_FOUND, 'org'),
                    ('DELETE', '/v2/organization/tokens/{}', E_TOKEN_NOT_FOUND, 'org'),
                    ('POST', '/v2/tokens/{}/reveal', E_TOKEN_NOT_FOUND, 'org'),
                    ('POST', '/v2/tokens/{}/rotate', E_TOKEN_NOT_FOUND, 'org'),
                    ('DELETE', '/v2/admin/organizations/{}', ANY_4XX, 'admin'),
                    ('GET', '/v1/assistant/{}', ANY_4XX, 'project'),
                    ('DELETE', '/v1/assistant/{}', ANY_4XX, 'project')):
                body = {'name': unique('never')} if method == 'PUT' else None
                rows.append(row(f'{method} {template.format(bad_id)[:80]}', method,
                                template.format(bad_id), expected, body=body, as_=as_))
        rows.append(row('project-id header with SQL', 'POST', '/v2/projects/tokens',
                        body={'name': unique('never')}, headers={'project-id': SQL}))
        return rows

    def send(self, case):
        token = {'org': self.org_token, 'admin': self.admin_token,
                 'project': self.project_token, 'none': None}[case.as_]
        return self.request(case.method, case.path, body=case.body, raw_body=case.raw,
                            headers=case.headers, token=token)

    def assertEnvelope4xx(self, response, case):
        context = f'{case.label}: {response.status} {str(response.body)[:300]}'
        self.assertGreaterEqual(response.status, 400, context)
        self.assertLess(response.status, 500, context)
        self.assertIsInstance(response.body, dict, context)
        errors = response.body.get('errors')
        self.assertIsInstance(errors, list, context)
        self.assertTrue(errors, context)
        for item in errors:
            self.assertIsInstance(item.get('id'), int, context)
            self.assertIsInstance(item.get('description'), str, context)
        if case.expected is not None:
            self.assertError(response, case.expected, case.label)

    def test_every_hostile_input_is_a_4xx_envelope_and_changes_nothing(self):
        before = self.snapshot()
        rows = self.body_rows() + self.query_rows() + self.id_rows()
        self.assertGreater(len(rows), 200)
        for case in rows:
            with self.subTest(case.label[:100]):
                self.assertEnvelope4xx(self.send(case), case)
        self.assertEqual(self.snapshot(), before)
        self.assertTokenWorks(self.org_token)
        self.assertTokenWorks(self.project_token)

    def test_a_nul_byte_in_a_search_filter_is_400_id_11_not_a_500(self):
        for path in ('/v2/tokens?name=a%00b', '/v2/tokens?projectName=a%00b',
                     '/v1/organization/projects?name=a%00b'):
            with self.subTest(path=path):
                field = path.split('?')[1].split('=')[0]
                self.assertError(self.get(path), e_pattern(field))

    def test_sql_metacharacters_in_a_text_filter_are_plain_text(self):
        before = self.snapshot()
        body = self.ok(self.get(f'/v2/tokens?name={SQL_Q}&status=all'))
        self.assertEqual(body['tokens'], [])
        self.assertEqual(body['count'], 0)
        self.assertEqual(self.snapshot(), before)
