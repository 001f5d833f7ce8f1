// A tiny OpenAI-compatible upstream for gateway tests: POST /v1/chat/completions answers a
// chat.completion whose content is "echo: <last user message>" with fixed token usage.
import { createServer } from 'node:http';

/** Text of a message's content, whether a string or an array of content parts. */
function contentText(content) {
  if (typeof content === 'string') return content;
  if (Array.isArray(content))
    return content.map((part) => (typeof part === 'string' ? part : (part?.text ?? ''))).join('');
  return '';
}

/**
 * Starts the fake upstream on 127.0.0.1:<free port>.
 * Resolves with { baseUrl (".../v1"), calls (parsed request bodies, in arrival order), close() }.
 */
export async function startUpstream() {
  const calls = [];
  const server = createServer((request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      const send = (status, body) => {
        response.writeHead(status, { 'Content-Type': 'application/json' });
        response.end(JSON.stringify(body));
      };
      if (request.method !== 'POST' || request.url !== '/v1/chat/completions') {
        send(404, { error: { message: `no route ${request.method} ${request.url}`, type: 'invalid_request_error' } });
        return;
      }
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      } catch {
        send(400, { error: { message: 'invalid JSON', type: 'invalid_request_error' } });
        return;
      }
      calls.push({ headers: request.headers, body });
      const users = (Array.isArray(body.messages) ? body.messages : []).filter((m) => m?.role === 'user');
      const last = users.length ? contentText(users[users.length - 1].content) : '';
      send(200, {
        id: `chatcmpl-${calls.length}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: body.model ?? 'echo',
        choices: [{ index: 0, message: { role: 'assistant', content: `echo: ${last}` }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 },
      });
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    calls,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

/** TOML for one provider `name` at `baseUrl` with `models` ([{name, input, output}] USD per Mtok). */
export function providerToml(name, baseUrl, models = [{ name: 'echo', input: 1.0, output: 2.0 }], timeoutMs = 5000) {
  const lines = [
    '[[providers]]',
    `name = ${JSON.stringify(name)}`,
    `base_url = ${JSON.stringify(baseUrl)}`,
    `timeout_ms = ${timeoutMs}`,
  ];
  for (const model of models) {
    lines.push(
      '',
      '[[providers.models]]',
      `name = ${JSON.stringify(model.name)}`,
      `input_usd_per_mtok = ${Number(model.input).toFixed(6)}`,
      `output_usd_per_mtok = ${Number(model.output).toFixed(6)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
