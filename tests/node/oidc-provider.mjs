// A real OpenID Connect provider for palabre's sign-in tests: panva's certified
// `oidc-provider`, served on 127.0.0.1 (an ephemeral port) with its own discovery, JWKS,
// authorization, token and userinfo endpoints, PKCE required, ID tokens signed RS256 with a
// key generated at start. Its sign-in and consent pages are ours (what a deployment writes),
// built on the provider's interaction API.
//
// Usage: node oidc-provider.mjs '<config JSON>'
//   {"clients": [<oidc-provider client metadata: client_id, client_secret, redirect_uris,
//                 token_endpoint_auth_method, ...>],
//    "accounts": [{"sub", "password", "name"?, "email"?, "groups"?}],
//    "clock_offset_seconds"?: n,   // the provider's clock, shifted (an expired ID token)
//    "id_token_ttl_seconds"?: n}
// Prints the issuer URL on stdout once listening; logs go to stderr. Exits when stdin closes,
// so a test that dies never leaves it running.

import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { createServer } from 'node:http'

import Provider from 'oidc-provider'

const config = JSON.parse(process.argv[2] ?? '{}')

const offsetMs = Math.round((config.clock_offset_seconds ?? 0) * 1000)
if (offsetMs !== 0) {
  // The provider reads its clock through Date.now (iat, exp, code and cookie lifetimes).
  const realNow = Date.now
  Date.now = () => realNow() + offsetMs
}

const accounts = new Map((config.accounts ?? []).map((account) => [account.sub, account]))

const escape = (text) => String(text).replace(/[&<>"']/g,
  (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c])

const page = (title, body) => `<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>${escape(title)}</title></head><body><h1>${escape(title)}</h1>${body}</body></html>`

const loginPage = (uid, clientId, error) => page('Sign in', `
<p>Sign in to continue to <b>${escape(clientId)}</b>.</p>
${error ? `<p class="error" role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login" autocomplete="off">
  <label>Login <input name="login" required autofocus></label>
  <label>Password <input name="password" type="password" required></label>
  <button type="submit" class="login-submit">Sign in</button>
</form>`)

const consentPage = (uid, clientId, scopes) => page('Authorize', `
<p><b>${escape(clientId)}</b> asks for: ${scopes.map(escape).join(', ')}.</p>
<form method="post" action="/interaction/${escape(uid)}/confirm">
  <button type="submit" class="consent-submit">Continue</button>
</form>`)

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
const signingKey = {
  ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), use: 'sig', alg: 'RS256',
}

const readForm = async (req) => {
  let body = ''
  for await (const chunk of req) {
    body += chunk
    if (body.length > 16384) throw new Error('form too large')
  }
  return new URLSearchParams(body)
}

const server = createServer()
server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`
  const provider = new Provider(issuer, {
    clients: config.clients ?? [],
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false } },
    claims: {
      openid: ['sub'], profile: ['name'], email: ['email'], groups: ['groups'],
    },
    ttl: config.id_token_ttl_seconds ? { IdToken: config.id_token_ttl_seconds } : {},
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount (ctx, sub) {
      const account = accounts.get(sub)
      if (account === undefined) return undefined
      return {
        accountId: sub,
        async claims () {
          const { password, ...claims } = account
          return claims
        },
      }
    },
  })
  provider.on('server_error', (ctx, err) => console.error('server_error', err))

  const interaction = async (req, res, uid, action) => {
    const details = await provider.interactionDetails(req, res)
    if (details.uid !== uid) throw new Error('interaction mismatch')
    const { prompt, params } = details
    const html = (status, body) => {
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
      res.end(body)
    }
    if (req.method === 'GET' && action === undefined) {
      if (prompt.name === 'login') return html(200, loginPage(uid, params.client_id))
      return html(200, consentPage(uid, params.client_id, String(params.scope).split(' ')))
    }
    if (req.method === 'POST' && action === 'login' && prompt.name === 'login') {
      const form = await readForm(req)
      const account = accounts.get(form.get('login') ?? '')
      if (account === undefined || account.password !== form.get('password')) {
        return html(401, loginPage(uid, params.client_id, 'Unknown login or wrong password.'))
      }
      return provider.interactionFinished(req, res, { login: { accountId: account.sub } },
        { mergeWithLastSubmission: false })
    }
    if (req.method === 'POST' && action === 'confirm' && prompt.name === 'consent') {
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id })
      const missing = prompt.details
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '))
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims)
      return provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } },
        { mergeWithLastSubmission: true })
    }
    return html(400, page('Bad request', '<p>This step is not the one expected.</p>'))
  }

  const callback = provider.callback()
  server.on('request', (req, res) => {
    const match = /^\/interaction\/([\w-]+)(?:\/(login|confirm))?$/.exec(req.url.split('?')[0])
    if (match === null) return callback(req, res)
    interaction(req, res, match[1], match[2]).catch((err) => {
      console.error('interaction failed:', err.message)
      if (!res.headersSent) {
        res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' })
        res.end(`interaction failed: ${err.message}\n`)
      }
    })
  })
  process.stdout.write(`${issuer}\n`)
})

process.stdin.on('end', () => process.exit(0))
process.stdin.on('close', () => process.exit(0))
process.stdin.resume()
