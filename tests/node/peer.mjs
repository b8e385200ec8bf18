// A Yjs peer on the official, unmodified `y-websocket` client, driven over stdio.
//
// The e2e tests in tests/e2e/test_node_ywebsocket.py start one process per peer. Each
// stdin line is a JSON command `{"id": N, "cmd": NAME, ...args}`; each command gets one
// stdout line `{"id": N, "ok": true, "result": ...}` or `{"id": N, "ok": false, "error": ...}`.
// Everything the provider reports arrives as event lines `{"event": NAME, ...}`, in the
// order it happened, so a test waits on them instead of sleeping. stdout carries nothing
// else: library logging goes to stderr.
//
// Commands: connect {url, docId, params?, field?}, insert {text, index?},
// delete {index, length}, setAwareness {name, color}, clearAwareness, disconnect,
// reconnect, getText, getAwarenessNames, getStateVector, waitSynced {timeoutMs?}, quit.
// Events: ready, status {status}, synced {synced}, text-changed {text, local},
// awareness-changed {added, updated, removed, names}, connection-close {code, reason},
// connection-error {message}, closed {code, reason}.

// First: stdio.mjs sends library logging to stderr, keeping stdout for the protocol.
import { emit, remoteNames, write } from './stdio.mjs'
import { readFileSync } from 'node:fs'
import * as readline from 'node:readline'
import WebSocket from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'

// y-websocket reports a y-protocols permission-denied auth message only through its
// default handler, console.warn('Permission denied to access <url>.\n<reason>').
const warn = console.warn
console.warn = (...args) => {
  const text = args.map(String).join(' ')
  if (text.startsWith('Permission denied')) emit('permission-denied', { reason: text.split('\n').slice(1).join('\n') })
  warn(...args)
}

/** @type {{doc: Y.Doc, text: Y.Text, provider: WebsocketProvider} | null} */
let peer = null

const requirePeer = () => {
  if (peer === null) throw new Error('not connected: send connect first')
  return peer
}

const connect = ({ url, docId, params = {}, field = 'text' }) => {
  if (peer !== null) throw new Error('already connected: use reconnect')
  if (typeof url !== 'string' || typeof docId !== 'string') {
    throw new Error('connect needs url and docId strings')
  }
  const doc = new Y.Doc()
  const text = doc.getText(field)
  // disableBc: every byte must go through the server, never a same-process shortcut.
  const provider = new WebsocketProvider(url, docId, doc, {
    WebSocketPolyfill: WebSocket,
    params,
    disableBc: true,
    connect: false
  })
  peer = { doc, text, provider }
  text.observe((event) => {
    emit('text-changed', { text: text.toString(), local: event.transaction.local })
  })
  provider.on('status', ({ status }) => emit('status', { status }))
  provider.on('sync', (synced) => emit('synced', { synced }))
  provider.on('connection-close', (event) => {
    // `event` is null when the provider closed the socket itself (disconnect()).
    emit('connection-close', {
      code: event ? event.code : null,
      reason: event ? String(event.reason) : null
    })
  })
  provider.on('connection-error', (event) => {
    emit('connection-error', { message: String(event && event.message) })
  })
  provider.on('closed', ({ code, reason }) => emit('closed', { code, reason: String(reason) }))
  provider.awareness.on('change', ({ added, updated, removed }) => {
    emit('awareness-changed', { added, updated, removed, names: remoteNames(peer) })
  })
  provider.connect()
  return { clientId: doc.clientID, url: provider.url }
}

const waitSynced = ({ timeoutMs = 10000 }) => {
  const { provider } = requirePeer()
  if (provider.synced) return Promise.resolve({ synced: true })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      provider.off('sync', onSync)
      reject(new Error(`not synced after ${timeoutMs} ms`))
    }, timeoutMs)
    const onSync = (synced) => {
      if (!synced) return
      clearTimeout(timer)
      provider.off('sync', onSync)
      resolve({ synced: true })
    }
    provider.on('sync', onSync)
  })
}

const commands = {
  connect,
  waitSynced,
  insert: ({ text: chunk, index }) => {
    const { text } = requirePeer()
    if (typeof chunk !== 'string') throw new Error('insert needs text')
    text.insert(index ?? text.length, chunk)
    return { text: text.toString() }
  },
  delete: ({ index, length }) => {
    const { text } = requirePeer()
    text.delete(index, length)
    return { text: text.toString() }
  },
  getText: () => ({ text: requirePeer().text.toString() }),
  getStateVector: () => ({
    stateVector: Buffer.from(Y.encodeStateVector(requirePeer().doc)).toString('base64')
  }),
  setAwareness: ({ name, color }) => {
    requirePeer().provider.awareness.setLocalStateField('user', { name, color })
    return {}
  },
  clearAwareness: () => {
    requirePeer().provider.awareness.setLocalState(null)
    return {}
  },
  getAwarenessNames: () => ({ names: remoteNames(requirePeer()) }),
  disconnect: () => {
    const { provider } = requirePeer()
    provider.disconnect()
    return { connected: provider.wsconnected }
  },
  reconnect: () => {
    requirePeer().provider.connect()
    return {}
  },
  quit: () => {
    if (peer !== null) {
      peer.provider.destroy()
      peer.doc.destroy()
      peer = null
    }
    return {}
  }
}

const handle = async (line) => {
  let request
  try {
    request = JSON.parse(line)
  } catch (error) {
    write({ id: null, ok: false, error: `not JSON: ${error.message}` })
    return
  }
  const { id = null, cmd, ...args } = request
  const command = Object.hasOwn(commands, cmd) ? commands[cmd] : null
  if (command === null) {
    write({ id, ok: false, error: `unknown command: ${cmd}` })
    return
  }
  try {
    // Synchronous commands answer at once, so a reply precedes the events that follow it.
    const result = command(args)
    write({ id, ok: true, result: result instanceof Promise ? await result : result })
  } catch (error) {
    write({ id, ok: false, error: String(error && error.message ? error.message : error) })
  }
  if (cmd === 'quit') {
    // Exit only once the reply is flushed; the provider's timers would keep us alive.
    process.stdout.write('', () => process.exit(0))
  }
}

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
lines.on('line', (line) => {
  if (line.trim() !== '') handle(line)
})
// The test process went away without `quit`: leave at once rather than linger.
lines.on('close', () => process.exit(0))

const versionOf = (name) =>
  JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url))).version

emit('ready', {
  node: process.version,
  versions: { yjs: versionOf('yjs'), 'y-websocket': versionOf('y-websocket'), ws: versionOf('ws') }
})
