"""API.md sections 1-2: malformed bodies and invalid fields are 400s that change nothing."""

from .harness import (E_BAD_INPUT, E_PROJECT_NOT_FOUND, GatehouseTestCase, e_pattern, e_range,
                      e_required, unique)


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
