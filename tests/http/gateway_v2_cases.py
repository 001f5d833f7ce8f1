"""What the gateway v2 test modules share (issue 8): a server with the fake upstream of the other
gateway tests and load_upstream.py (asyncio, counts connections) behind providers of their own."""

import resource

from .harness import KEY_ENV, GatewayTestCase, provider_config
from .load_upstream import WithLoadUpstream

E_RATE_LIMITED = (429, 9002, 'Rate limit exceeded')
E_PROVIDER_TIMEOUT = (504, 100, 'Provider Request Timeout')
LOAD = 'load'
LOAD_MODELS = ['fixed', 'stream-10x200', 'stream-3x50', 'flood-64', 'hold', 'json-stream',
               'auth-401', 'rate-429', 'bad-400', 'bad-usage', 'bad-usage-stream', 'emb',
               'huge-event', 'huge-tail']
WHOLE_CALL_MS = 1500
# A model name with a '/' in it, as Hugging Face-style names have.
SLASHED_MODEL = 'vendor/model-1'

def load_config(base_url):
    lines = []
    providers = [(LOAD, 'timeout_ms = 15000', LOAD_MODELS),
                 ('loadslow', f'timeout_ms = {WHOLE_CALL_MS}', ['trickle']),
                 ('capped', 'timeout_ms = 15000\nmax_concurrent = 2', ['hold']),
                 ('tokencap', 'timeout_ms = 15000\nmax_concurrent_per_token = 1', ['hold']),
                 ('slashed', 'timeout_ms = 15000', [SLASHED_MODEL]),
                 ('unpriced', 'timeout_ms = 15000', []),  # no models: any model, no prices
                 ('listed', 'timeout_ms = 15000', ['fixed', 'stream-2x1'])]
    for name, settings, models in providers:
        lines += ['[[providers]]', f'name = "{name}"', f'base_url = "{base_url}"',
                  f'api_key_env = "{KEY_ENV}"', settings, '']
        for model in models:
            lines += ['[[providers.models]]', f'name = "{model}"']
            # The models of `listed` are listed without prices.
            if name != 'listed':
                lines += ['input_usd_per_mtok = 1.0', 'output_usd_per_mtok = 2.0']
            lines += ['']
    return '\n'.join(lines)


class GatewayV2Case(WithLoadUpstream, GatewayTestCase):
    """One server and one project per module, with the providers of load_config."""

    @classmethod
    def setUpClass(cls):
        # 1,000 client sockets and 1,000 upstream sockets live in this process at once.
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        super().setUpClass()
        cls.project = cls.make_project()

    @classmethod
    def server_config(cls):
        return provider_config(cls.upstream.base_url) + '\n' + load_config(cls.load.base_url)

    def metric(self, name):
        text = self.request('GET', '/metrics').body
        for line in text.splitlines():
            if line.startswith(name + ' '):
                return float(line.split()[1])
        self.fail(f'{name} not in /metrics')
