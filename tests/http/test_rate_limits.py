"""API.md section 6: rateLimitPerMinute on tokens (429 id 9002 with Retry-After) and the
per-address throttling of failed authentications, which never slows a valid caller."""

from .harness import E_BAD_TOKEN, GatehouseTestCase, e_range

E_RATE = (429, 9002, 'Rate limit exceeded')
VALIDATE = '/v1/accessControl/apitoken/validate'
FAILURES_ALLOWED_PER_MINUTE = 20


class TokenRateLimitTests(GatehouseTestCase):

    def test_rate_limit_is_set_on_create_and_shown_in_the_token_object(self):
        project = self.create_project()
        token = self.create_project_token(project['projectId'], rateLimitPerMinute=5)
        self.assertEqual(token['rateLimitPerMinute'], 5)
        read = self.ok(self.get(f'/v2/projects/tokens/{token["id"]}'))
        self.assertEqual(read['rateLimitPerMinute'], 5)
        other = self.create_project_token(project['projectId'])
        self.assertIsNone(other['rateLimitPerMinute'])

    def test_calls_beyond_the_rate_get_429_id_9002_with_retry_after(self):
        project = self.create_project()
        token = self.create_project_token(project['projectId'], rateLimitPerMinute=3)
        for _ in range(3):
            self.ok(self.get(VALIDATE, token=token['secret']))
        refused = self.get(VALIDATE, token=token['secret'])
        self.assertError(refused, E_RATE)
        retry_after = int(refused.headers.get('Retry-After'))
        self.assertTrue(1 <= retry_after <= 60, retry_after)
        # Another token of the same project is not slowed.
        self.ok(self.get(VALIDATE, token=project['tokens'][0]['secret']))

    def test_update_sets_and_clears_the_rate_limit(self):
        project = self.create_project()
        token = self.create_project_token(project['projectId'])
        path = f'/v2/projects/tokens/{token["id"]}'
        changed = self.ok(self.request('PUT', path, body={'rateLimitPerMinute': 1},
                                       token=self.org_token))
        self.assertEqual(changed['rateLimitPerMinute'], 1)
        self.ok(self.get(VALIDATE, token=token['secret']))
        self.assertError(self.get(VALIDATE, token=token['secret']), E_RATE)
        cleared = self.ok(self.request('PUT', path, body={'rateLimitPerMinute': None},
                                       token=self.org_token))
        self.assertIsNone(cleared['rateLimitPerMinute'])
        for _ in range(3):
            self.ok(self.get(VALIDATE, token=token['secret']))

    def test_rate_limit_below_one_is_400_id_8(self):
        project = self.create_project()
        response = self.request('POST', '/v2/projects/tokens',
                                body={'name': 'zero', 'rateLimitPerMinute': 0},
                                token=self.org_token, headers={'project-id': project['projectId']})
        self.assertError(response, e_range('rateLimitPerMinute'))

    def test_organization_tokens_carry_a_rate_limit_too(self):
        token = self.create_org_token(rateLimitPerMinute=2)
        self.assertEqual(token['rateLimitPerMinute'], 2)
        self.ok(self.get('/v2/organization/tokens', token=token['secret']))
        self.ok(self.get('/v2/organization/tokens', token=token['secret']))
        self.assertError(self.get('/v2/organization/tokens', token=token['secret']), E_RATE)


class FailedAuthenticationThrottlingTests(GatehouseTestCase):
    server_per_test = True

    def test_many_failures_from_one_address_get_429_but_valid_callers_pass(self):
        bad = 'gtp_' + 'A' * 49
        for _ in range(FAILURES_ALLOWED_PER_MINUTE):
            self.assertError(self.get(VALIDATE, token=bad), E_BAD_TOKEN)
        throttled = self.get(VALIDATE, token=bad)
        self.assertError(throttled, E_RATE)
        self.assertIsNotNone(throttled.headers.get('Retry-After'))
        # A valid secret from the same address is never slowed.
        self.ok(self.get(VALIDATE, token=self.org_token))
        self.assertError(self.get(VALIDATE, token=bad), E_RATE)
