"""API.md section 3, leaked secrets: POST /v2/tokens/leaked needs no credentials, revokes every
valid secret it is given at once, answers "unknown" alike for malformed, foreign, revoked and
non-existent ones, records token.leaked in the owner's audit trail, tells the organization
webhook, and is rate limited per address."""

import time

from .harness import GatehouseTestCase, e_range, e_required, unique, wait_until
from .test_usage_limits import WebhookReceiver

LEAKED = '/v2/tokens/leaked'
E_RATE = (429, 9002, 'Rate limit exceeded')


def report(secrets, source='github-secret-scanning', url='https://example.test/repo/blob/1'):
    return {'secrets': secrets, 'source': source, 'url': url}


def broken_checksum(secret):
    return secret[:-1] + ('a' if secret[-1] != 'a' else 'b')


class LeakedSecretTests(GatehouseTestCase):
    receiver = None
    # Each test reports from its own forwarded address, so the per-address limit of one test
    # never reaches another (the test client is a trusted proxy here).
    _address = 0

    @classmethod
    def setUpClass(cls):
        cls.receiver = WebhookReceiver()
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.receiver.stop()

    @classmethod
    def server_config(cls):
        return (f'[server]\nlimit_webhook_url = "{cls.receiver.url}"\n'
                'trusted_proxies = ["127.0.0.1/32", "::1"]\n')

    def setUp(self):
        super().setUp()
        LeakedSecretTests._address += 1
        self.address = f'198.51.100.{LeakedSecretTests._address}'

    def leak(self, body, address=None):
        return self.request('POST', LEAKED, body=body,
                            headers={'X-Forwarded-For': address or self.address})

    def test_a_valid_secret_is_revoked_at_once_without_credentials(self):
        project = self.create_project()
        token = self.create_project_token(project['projectId'])
        self.assertTokenWorks(token['secret'])
        body = self.ok(self.leak(report([token['secret']])))
        self.assertEqual(body, {'results': [{'secretPrefix': token['secretPrefix'],
                                             'status': 'revoked'}]})
        self.assertTokenRejected(token['secret'])
        listed = self.ok(self.get(f'/v2/projects/tokens/{token["id"]}'))
        self.assertEqual(listed['status'], 'Revoked')

    def test_malformed_foreign_revoked_and_unknown_secrets_get_the_same_answer_shape(self):
        project = self.create_project()
        revoked = self.create_project_token(project['projectId'])
        self.ok(self.request('DELETE', f'/v2/projects/tokens/{revoked["id"]}',
                             token=self.org_token))
        live = self.create_project_token(project['projectId'])
        strings = ['not a secret at all',
                   'ghp_' + 'A' * 36,  # another vendor's format
                   broken_checksum(live['secret']),  # our format, wrong checksum
                   revoked['secret'],
                   'gtp_' + 'Q' * 49]  # well-formed shape, never issued
        body = self.ok(self.leak(report(strings)))
        self.assertEqual([set(r) for r in body['results']],
                         [{'secretPrefix', 'status'}] * len(strings))
        self.assertEqual([r['status'] for r in body['results']], ['unknown'] * len(strings))
        self.assertEqual([r['secretPrefix'] for r in body['results']],
                         ['', '', live['secretPrefix'], revoked['secretPrefix'], 'gtp_QQQQ'])
        self.assertTokenWorks(live['secret'])

    def test_answers_never_repeat_more_than_the_public_prefix(self):
        project = self.create_project()
        token = self.create_project_token(project['projectId'])
        body = self.ok(self.leak(report([token['secret'], 'gtp_' + 'Z' * 49])))
        for result in body['results']:
            self.assertLessEqual(len(result['secretPrefix']), 8)
        self.assertNotIn(token['secret'][8:], str(body))

    def test_the_leak_is_audited_in_the_owning_organization_with_source_and_url(self):
        project = self.create_project()
        token = self.create_project_token(project['projectId'])
        self.ok(self.leak(report([token['secret']], source='pastebin-watch',
                                 url='https://paste.example/abc')))
        events = self.ok(self.get(f'/v2/audit?action=token.leaked&targetId={token["id"]}'))
        self.assertEqual(events['count'], 1)
        event = events['events'][0]
        self.assertEqual(event['targetType'], 'token')
        self.assertEqual(event['actor'], '(system)')
        self.assertEqual(event['remoteAddress'], self.address)
        self.assertEqual(event['details']['source'], 'pastebin-watch')
        self.assertEqual(event['details']['url'], 'https://paste.example/abc')
        self.assertEqual(event['details']['status'], {'from': 'Active', 'to': 'Revoked'})
        self.assertNotIn(token['secret'], str(event))

    def test_the_organization_webhook_is_told(self):
        project = self.create_project()
        token = self.create_project_token(project['projectId'])
        self.ok(self.leak(report([token['secret']])))
        self.assertTrue(wait_until(lambda: any(n.get('apiTokenId') == token['id']
                                               for n in self.receiver.delivered), 10.0))
        notice = next(n for n in self.receiver.delivered if n.get('apiTokenId') == token['id'])
        self.assertEqual(notice['event'], 'token.leaked')
        self.assertEqual(notice['organizationId'], self.org_id)
        self.assertEqual(notice['projectId'], project['projectId'])
        self.assertEqual(notice['secretPrefix'], token['secretPrefix'])
        self.assertEqual(notice['source'], 'github-secret-scanning')
        self.assertNotIn(token['secret'], str(notice))

    def test_nothing_is_notified_for_unknown_secrets(self):
        before = len(self.receiver.attempts)
        self.ok(self.leak(report(['gtp_' + 'R' * 49])))
        time.sleep(0.5)
        self.assertEqual(len(self.receiver.attempts), before)

    def test_a_leaked_organization_token_is_revoked_even_if_it_is_the_last(self):
        org = self.create_organization()
        secret = org['apiToken']['secret'] if 'apiToken' in org else org['tokens'][0]['secret']
        self.assertTokenWorks(secret)
        body = self.ok(self.leak(report([secret])))
        self.assertEqual(body['results'][0]['status'], 'revoked')
        self.assertTokenRejected(secret)

    def test_reporting_twice_answers_unknown_the_second_time(self):
        project = self.create_project()
        token = self.create_project_token(project['projectId'])
        self.assertEqual(self.ok(self.leak(report([token['secret']])))['results'][0]['status'],
                         'revoked')
        self.assertEqual(self.ok(self.leak(report([token['secret']])))['results'][0]['status'],
                         'unknown')

    def test_body_rules(self):
        self.assertError(self.leak({'source': 'x'}), e_required('secrets'))
        self.assertError(self.leak(report([])), e_required('secrets'))
        self.assertError(self.leak(report(['x'] * 101)), e_range('secrets'))

    def test_reports_are_rate_limited_per_address(self):
        for _ in range(10):
            self.ok(self.leak(report(['nothing'])))
        refused = self.leak(report(['nothing']))
        self.assertError(refused, E_RATE)
        self.assertTrue(refused.headers.get('Retry-After'))
        self.ok(self.leak(report(['nothing']), address='203.0.113.200'))


if __name__ == '__main__':
    import unittest
    unittest.main()
