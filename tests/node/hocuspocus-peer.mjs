// A peer on the official, unmodified `@hocuspocus/provider`, driven over stdio.
//
// tests/e2e/test_hocuspocus.py starts one process per peer. Same line protocol as
// peer.mjs: stdin `{"id": N, "cmd": NAME, ...args}`, stdout one reply
// `{"id": N, "ok": true, "result": ...}` (or `"ok": false, "error"`) per command, and
// event lines `{"event": NAME, ...}` in the order they happened, so tests never sleep.
//
// One `HocuspocusProviderWebsocket` (the socket) carries every document opened with
// `open`: each is a `HocuspocusProvider` attached to it.
//
// Commands: connect {url}, open {name, token, field?}, insert {name, text},
// setAwareness {name, user}, sendStateless {name, payload}, getText {name}, getAwarenessNames {name}, getState {name},
// quit.
// Events: ready, status {status}, close {code, reason}, authenticated {doc, scope},
// authentication-failed {doc, reason}, synced {doc}, text-changed {doc, text, local},
// unsynced {doc, number}, awareness-changed {doc, names}, stateless {doc, payload}.

import { emit, remoteNames, write } from './stdio.mjs'
import * as readline from 'node:readline'
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import WebSocket from 'ws'
import * as Y from 'yjs'

let socket = null
/** @type {Map<string, {doc: Y.Doc, text: Y.Text, provider: HocuspocusProvider}>} */
const documents = new Map()

const documentOf = (name) => {
  const found = documents.get(name)
  if (!found) throw new Error(`document ${name} is not open`)
  return found
}

const commands = {
  connect: ({ url }) => {
    if (socket !== null) throw new Error('already connected')
    socket = new HocuspocusProviderWebsocket({ url, WebSocketPolyfill: WebSocket })
    socket.on('status', ({ status }) => emit('status', { status }))
    socket.on('close', ({ event }) => emit('close', { code: event.code, reason: String(event.reason) }))
    return { url }
  },
  open: ({ name, token, field = 'text' }) => {
    if (socket === null) throw new Error('connect first')
    if (documents.has(name)) throw new Error(`${name} already open`)
    const doc = new Y.Doc()
    const text = doc.getText(field)
    const provider = new HocuspocusProvider({ websocketProvider: socket, name, document: doc, token })
    const entry = { doc, text, provider }
    documents.set(name, entry)
    text.observe((event) => emit('text-changed', { doc: name, text: text.toString(), local: event.transaction.local }))
    provider.on('authenticated', ({ scope }) => emit('authenticated', { doc: name, scope }))
    provider.on('authenticationFailed', ({ reason }) => emit('authentication-failed', { doc: name, reason }))
    provider.on('synced', ({ state }) => { if (state) emit('synced', { doc: name }) })
    provider.on('unsyncedChanges', ({ number }) => emit('unsynced', { doc: name, number }))
    provider.on('stateless', ({ payload }) => emit('stateless', { doc: name, payload }))
    provider.awareness.on('change', () => emit('awareness-changed', { doc: name, names: remoteNames(entry) }))
    provider.attach()
    return { clientId: doc.clientID }
  },
  insert: ({ name, text: chunk }) => {
    const { text } = documentOf(name)
    text.insert(text.length, chunk)
    return { text: text.toString() }
  },
  setAwareness: ({ name, user }) => {
    documentOf(name).provider.setAwarenessField('user', user)
    return {}
  },
  sendStateless: ({ name, payload }) => {
    documentOf(name).provider.sendStateless(payload)
    return {}
  },
  getText: ({ name }) => ({ text: documentOf(name).text.toString() }),
  getAwarenessNames: ({ name }) => ({ names: remoteNames(documentOf(name)) }),
  getState: ({ name }) => {
    const { provider } = documentOf(name)
    return {
      unsynced: provider.unsyncedChanges,
      synced: provider.synced,
      scope: provider.authorizedScope ?? null,
      authenticated: provider.isAuthenticated
    }
  },
  quit: () => {
    for (const { provider } of documents.values()) provider.destroy()
    if (socket !== null) socket.destroy()
    setImmediate(() => process.exit(0))
    return {}
  }
}

const lines = readline.createInterface({ input: process.stdin })
lines.on('line', async (line) => {
  let request
  try {
    request = JSON.parse(line)
    const command = commands[request.cmd]
    if (!command) throw new Error(`unknown command ${request.cmd}`)
    write({ id: request.id, ok: true, result: await command(request) })
  } catch (error) {
    write({ id: request ? request.id : null, ok: false, error: String(error && error.stack ? error.stack : error) })
  }
})
lines.on('close', () => process.exit(0))
emit('ready', { node: process.version })
