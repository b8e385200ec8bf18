// Who the page is: a token taken from ?token= once and kept in sessionStorage, else the
// sign-in session of the server's cookie (GET /auth/session). Read for the UI only: the
// server checks every right.
const KEY = 'palabre.token'
let signin = { signed_in: false }

// Reads the cookie's sign-in session from the server (the cookie itself is HttpOnly).
export async function loadSignin () {
  try {
    const response = await fetch('/auth/session', { credentials: 'same-origin' })
    signin = await response.json()
  } catch {
    signin = { signed_in: false }
  }
  return signin
}

// The CSRF token unsafe requests made with the cookie carry.
export function csrfToken () {
  return signin.signed_in ? signin.csrf_token : null
}

export function hasProvider () {
  return signin.provider === true
}

// Ends the cookie's session (here, or `everywhere`), then the page starts again.
export async function signOut ({ everywhere = false } = {}) {
  if (signin.signed_in) {
    await fetch(`/auth/logout${everywhere ? '?everywhere=true' : ''}`, {
      method: 'POST', credentials: 'same-origin', referrerPolicy: 'same-origin',
      headers: { 'X-CSRF-Token': signin.csrf_token },
    })
  }
  setToken(null)
  window.location.reload()
}

export function adoptTokenFromAddress () {
  const url = new URL(window.location.href)
  const token = url.searchParams.get('token')
  if (token) {
    sessionStorage.setItem(KEY, token.trim())
    url.searchParams.delete('token')
    window.history.replaceState(null, '', url.pathname + url.search + url.hash)
  }
}

export function setToken (token) {
  if (token) sessionStorage.setItem(KEY, token.trim())
  else sessionStorage.removeItem(KEY)
}

export function readToken () {
  return sessionStorage.getItem(KEY)
}

function decodePayload (token) {
  const part = token.split('.')[1]
  if (!part) throw new Error('not a JWT')
  const base64 = part.replace(/-/g, '+').replace(/_/g, '/')
  const bytes = Uint8Array.from(atob(base64 + '='.repeat((4 - base64.length % 4) % 4)), (c) => c.charCodeAt(0))
  return JSON.parse(new TextDecoder().decode(bytes))
}

// Who the page thinks it is: {token, signedIn, sub, name, role, expired, invalid}.
export function currentUser () {
  const token = readToken()
  if (!token && signin.signed_in) {
    return { token: null, signedIn: true, sub: signin.sub, name: signin.name, role: signin.role, via: signin.via }
  }
  if (!token) return { token: null, sub: null, name: null, role: 'public' }
  try {
    const claims = decodePayload(token)
    const expired = typeof claims.exp === 'number' && claims.exp * 1000 < Date.now()
    return { token, sub: claims.sub, name: claims.name || claims.sub, role: claims.role || 'public', expired }
  } catch {
    return { token, sub: null, name: null, role: 'public', invalid: true }
  }
}

// Whether `sub`, read in the annotations document, is the page's own person: citizens and
// the public sync its public view, where they appear by their handle (`annotationsSub`,
// from GET /api/documents/{id}) rather than their subject.
export function isMe (user, sub) {
  return Boolean(sub) && (sub === user.sub || sub === user.annotationsSub)
}

// How the page names the author of an entry of the annotations document: itself by its
// own name, the others as the document shows them.
export function authorName (user, author) {
  return isMe(user, author?.sub) ? user.name : author?.name || '?'
}

export function canEdit (user) {
  return user.role === 'member' || user.role === 'facilitator'
}

export function canModerate (user) {
  return user.role === 'facilitator'
}

const PALETTE = ['#c0392b', '#2874a6', '#1e8449', '#8e44ad', '#b9770e', '#117a65', '#a04000', '#2e4053']

export function colourOf (name) {
  let hash = 0
  for (const ch of name || '?') hash = (hash * 31 + ch.codePointAt(0)) >>> 0
  return PALETTE[hash % PALETTE.length]
}
