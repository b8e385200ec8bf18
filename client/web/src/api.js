// The HTTP API, with the page's token (else its sign-in cookie and CSRF token); errors carry the server's {error, detail}.
import { csrfToken, readToken } from './session.js'

export class ApiError extends Error {
  constructor (status, code, detail) {
    super(detail || code)
    this.status = status
    this.code = code
  }
}

export async function api (path, { method = 'GET', body, raw = false } = {}) {
  const headers = {}
  const token = readToken()
  if (token) headers.Authorization = `Bearer ${token}`
  else if (method !== 'GET' && csrfToken()) headers['X-CSRF-Token'] = csrfToken()
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  // The page is served with no-referrer, under which a POST's Origin would be "null": the
  // server's CSRF check of cookie requests needs the real one (sent to ourselves only).
  const response = await fetch(`/api${path}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    referrerPolicy: 'same-origin',
  })
  if (!response.ok) {
    let code = `http_${response.status}`
    let detail = response.statusText
    try {
      const error = await response.json()
      code = error.error || code
      detail = error.detail || detail
    } catch {}
    throw new ApiError(response.status, code, detail)
  }
  if (raw) return response.text()
  return response.status === 204 ? null : response.json()
}

export const docPath = (docId) => `/documents/${encodeURIComponent(docId)}`
