// One document over the stock y-websocket provider, and the state the page shows for it.
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import * as authProtocol from 'y-protocols/auth'

const MESSAGE_AUTH = 2

export function socketBase () {
  return `${window.location.protocol === 'https:' ? 'wss' : 'ws'}://${window.location.host}/ws`
}

// Connects `docId`; `onDenied(reason)` hears the server's permission-denied messages.
export function connectDocument (docId, token, { onDenied } = {}) {
  const ydoc = new Y.Doc()
  const provider = new WebsocketProvider(socketBase(), docId, ydoc, {
    params: token ? { token } : {},
    disableBc: true, // every change goes through the server, which checks it
    maxBackoffTime: 5000,
  })
  provider.messageHandlers[MESSAGE_AUTH] = (_encoder, decoder, p) => {
    authProtocol.readAuthMessage(decoder, p.doc, (_doc, reason) => onDenied && onDenied(reason))
  }
  // 1012: the node is restarting (a deploy); another one serves us at once behind the
  // proxy, so reconnect now instead of after the provider's back-off. connect() is a
  // no-op while the closing socket is still the provider's: hence the next tick.
  provider.on('connection-close', (event) => {
    if (event && event.code === 1012) setTimeout(() => provider.connect(), 0)
  })
  // A lost network rarely closes a socket at once: follow the browser's own signal.
  window.addEventListener('offline', () => provider.disconnect())
  window.addEventListener('online', () => provider.connect())
  return { ydoc, provider }
}

// Tracks connected / syncing / offline (with local edits pending) for one provider.
export class ConnectionState {
  constructor (provider, ydoc, onChange) {
    this.status = 'connecting'
    this.synced = false
    this.pending = false
    this.closed = null
    this.everConnected = false
    provider.on('status', ({ status }) => {
      this.status = status
      if (status === 'connected') this.everConnected = true
      if (status !== 'connected') this.synced = false
      onChange()
    })
    provider.on('sync', (synced) => {
      this.synced = synced
      if (synced && this.status === 'connected') this.pending = false
      onChange()
    })
    provider.on('closed', (event) => { this.closed = event; onChange() })
    ydoc.on('update', (_update, origin) => {
      if (origin !== provider && !(this.status === 'connected' && this.synced)) {
        this.pending = true
        onChange()
      }
    })
  }

  // connecting | syncing | connected | offline | offlinePending | denied
  get kind () {
    if (this.closed) return 'denied'
    if (this.status !== 'connected') {
      if (this.pending) return 'offlinePending'
      return this.everConnected ? 'offline' : 'connecting'
    }
    return this.synced ? 'connected' : 'syncing'
  }
}
