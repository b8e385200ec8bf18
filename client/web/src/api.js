// The HTTP API, with the session's token; errors carry the server's {error, detail}.
import { readToken } from './session.js'

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
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  const response = await fetch(`/api${path}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
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
