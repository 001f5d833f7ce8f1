"""API.md section 5: GET /v1/accessControl/apitoken/validate."""

from .harness import E_BAD_TOKEN, E_NO_KEY, GatehouseTestCase, basic_auth

VALIDATE = '/v1/accessControl/apitoken/validate'
KEYS = {'organizationId', 'organizationName', 'projectId', 'projectName', 'apiTokenId',
        'apiTokenName', 'scope', 'status'}


class ValidateTests(GatehouseTestCase):

    def test_organization_token_validates_with_null_project(self):
        body = self.ok(self.request('GET', VALIDATE, token=self.org_token))
        self.assertEqual(set(body), KEYS)
        self.assertEqual(body['organizationId'], self.org_id)
        self.assertEqual(body['organizationName'], 'Default')
        self.assertIsNone(body['projectId'])
        self.assertIsNone(body['projectName'])
        self.assertEqual(body['apiTokenId'], self.org_token_id)
        self.assertEqual(body['apiTokenName'], 'DefaultOrganization')
        self.assertEqual(body['scope'], 'Organization')
        self.assertEqual(body['status'], 'Active')

    def test_project_token_validates_with_its_project(self):
        project = self.create_project()
        token = self.create_project_token(project['projectId'], name='validate-me')
        body = self.ok(self.request('GET', VALIDATE, token=token['secret']))
        self.assertEqual(body, {
            'organizationId': self.org_id, 'organizationName': 'Default',
            'projectId': project['projectId'], 'projectName': project['projectName'],
            'apiTokenId': token['id'], 'apiTokenName': 'validate-me', 'scope': 'Project',
            'status': 'Active'})

    def test_validate_follows_renames(self):
        project = self.create_project()
        token = project['tokens'][0]
        self.ok(self.request('PUT', f'/v2/projects/tokens/{token["id"]}',
                             body={'name': 'renamed-default'}, token=self.org_token))
        self.ok(self.request('PUT', f'/v1/organization/project/{project["projectId"]}',
                             body={'name': project['projectName'] + '-renamed'},
                             token=self.org_token))
        body = self.ok(self.request('GET', VALIDATE, token=token['secret']))
        self.assertEqual(body['apiTokenName'], 'renamed-default')
        self.assertEqual(body['projectName'], project['projectName'] + '-renamed')

    def test_validate_escapes_names_as_json_strings(self):
        # The body is written as text (no JSON tree): quotes, backslashes, slashes and
        # non-ASCII names must come back exactly.
        project = self.create_project(name='Proj "q" \\ / ñ ✓')
        token = self.create_project_token(project['projectId'], name='tok "a\\b" ü/✓')
        body = self.ok(self.request('GET', VALIDATE, token=token['secret']))
        self.assertEqual(body['projectName'], 'Proj "q" \\ / ñ ✓')
        self.assertEqual(body['apiTokenName'], 'tok "a\\b" ü/✓')

    def test_validate_accepts_basic_and_bare_forms(self):
        for header in (basic_auth(self.org_token), self.org_token):
            with self.subTest(form=header[:6]):
                response = self.request('GET', VALIDATE, headers={'Authorization': header})
                self.assertEqual(self.ok(response)['apiTokenId'], self.org_token_id)

    def test_validate_without_credentials_is_401_id_5(self):
        self.assertError(self.request('GET', VALIDATE), E_NO_KEY)

    def test_validate_with_unknown_secret_is_401_id_6(self):
        self.assertError(self.request('GET', VALIDATE, token='gtp_' + 'q' * 49), E_BAD_TOKEN)

    def test_query_string_does_not_change_validation(self):
        response = self.request('GET', VALIDATE + '?x=1&apiToken=nothing', token=self.org_token)
        self.assertEqual(self.ok(response)['apiTokenId'], self.org_token_id)
