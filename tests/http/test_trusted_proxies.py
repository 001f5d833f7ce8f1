"""API.md sections 3 and 11: the client address is the socket peer, or, when the peer is in
[server] trusted_proxies, the right-most X-Forwarded-For entry that is not itself a trusted
proxy. The tests connect from 127.0.0.1, so including or excluding 127.0.0.1/32 (and ::1)
makes the test client a trusted proxy or an ordinary client."""

from .harness import GatehouseTestCase, unique

E_ADDRESS = (403, 7, 'Address not allowed for this ApiToken')
E_RATE = (429, 9002, 'Rate limit exceeded')
VALIDATE = '/v1/accessControl/apitoken/validate'
BAD_SECRET = 'gtp_' + 'x' * 49


class ProxyCase(GatehouseTestCase):

    def token_for(self, cidrs):
        project = self.create_project()
        return self.create_project_token(project['projectId'], allowedCidrs=cidrs)['secret']

    def validate(self, secret, forwarded=None):
        headers = {'X-Forwarded-For': forwarded} if forwarded is not None else None
        return self.request('GET', VALIDATE, token=secret, headers=headers)

    def audit_address_of(self, token_name):
        events = self.ok(self.get('/v2/audit?action=token.create'))['events']
        return next(e['remoteAddress'] for e in events if e['target'] == token_name)


class TrustedProxyTests(ProxyCase):

    @classmethod
    def server_config(cls):
        return '[server]\ntrusted_proxies = ["127.0.0.1/32", "::1", "10.0.0.0/8"]\n'

    def test_forwarded_address_from_a_trusted_proxy_is_the_client(self):
        secret = self.token_for(['198.51.100.0/24'])
        self.ok(self.validate(secret, '198.51.100.7'))
        self.assertError(self.validate(secret, '203.0.113.9'), E_ADDRESS)

    def test_without_forwarded_for_the_trusted_peer_is_the_client(self):
        self.ok(self.validate(self.token_for(['127.0.0.1/32'])))
        self.assertError(self.validate(self.token_for(['198.51.100.0/24'])), E_ADDRESS)

    def test_right_most_untrusted_entry_wins_over_what_the_client_prepended(self):
        secret = self.token_for(['198.51.100.0/24'])
        # The client claims 198.51.100.7; the proxies saw 203.0.113.9 (then a trusted hop).
        self.assertError(self.validate(secret, '198.51.100.7, 203.0.113.9, 10.1.1.1'), E_ADDRESS)
        self.ok(self.validate(secret, '203.0.113.9, 198.51.100.7, 10.1.1.1'))

    def test_ipv6_forwarded_address(self):
        secret = self.token_for(['2001:db8::/32'])
        self.ok(self.validate(secret, '2001:db8::42'))
        self.assertError(self.validate(secret, '2001:db9::42'), E_ADDRESS)

    def test_audit_records_the_forwarded_address(self):
        name = unique('audited')
        self.ok(self.request('POST', '/v2/organization/tokens', body={'name': name},
                             token=self.org_token, headers={'X-Forwarded-For': '198.51.100.23'}))
        self.assertEqual(self.audit_address_of(name), '198.51.100.23')

    def test_failed_authentication_throttle_counts_the_forwarded_address(self):
        for _ in range(25):
            self.validate(BAD_SECRET, '203.0.113.50')
        self.assertError(self.validate(BAD_SECRET, '203.0.113.50'), E_RATE)
        # Another client behind the same proxy is not throttled.
        response = self.validate(BAD_SECRET, '203.0.113.51')
        self.assertEqual(response.status, 401, response.body)


class UntrustedPeerTests(ProxyCase):

    @classmethod
    def server_config(cls):
        return '[server]\ntrusted_proxies = ["10.0.0.0/8", "192.0.2.1/32"]\n'

    def test_forged_forwarded_for_from_an_untrusted_peer_is_ignored(self):
        secret = self.token_for(['198.51.100.0/24'])
        self.assertError(self.validate(secret, '198.51.100.7'), E_ADDRESS)
        local = self.token_for(['127.0.0.1/32'])
        self.ok(self.validate(local, '198.51.100.7'))

    def test_audit_records_the_peer_not_the_forged_header(self):
        name = unique('forged')
        self.ok(self.request('POST', '/v2/organization/tokens', body={'name': name},
                             token=self.org_token, headers={'X-Forwarded-For': '198.51.100.23'}))
        self.assertEqual(self.audit_address_of(name), '127.0.0.1')


class NoProxyConfigTests(ProxyCase):

    def test_without_trusted_proxies_forwarded_for_is_never_read(self):
        secret = self.token_for(['198.51.100.0/24'])
        self.assertError(self.validate(secret, '198.51.100.7'), E_ADDRESS)


if __name__ == '__main__':
    import unittest
    unittest.main()
