#!/usr/bin/env node
// Load generator for palabre's side-by-side benchmark.
//
// Every simulated client holds a real Y.Doc, speaks the standard y-protocols
// sync messages over a plain WebSocket (or the Hocuspocus framing: document name
// before each message, auth message first), applies what it receives, and
// reads the send time embedded in each remote edit to measure end-to-end
// latency. Clients are spread over worker threads so the client side does not
// become the bottleneck on its own; the process reports its own CPU time.
//
// Usage: node loadgen.mjs CONFIG.json   (prints one JSON result line on stdout)
//
// Modes:
//   edit  rooms x clients, `editors` of each room insert into a shared Y.Text at
//         `rate` edits/s for `duration` s, then drain until every client has seen
//         every remote edit (or `drainTimeout` s passed), then hash the texts.
//   load  one client replays an editing trace into a Y.Text in batches, then
//         waits for a sync round trip so the server holds everything.
//   join  one fresh client connects and times connect -> synced; checks the text.
//
// Edit mode takes `baseUrls` instead of `baseUrl` to spread clients over the nodes
// of a cluster (client i of a room connects to node i mod n); with `affinity` set,
// every client of a room connects to the node its document id hashes to (FNV-1a mod
// n), as a proxy routing on the document id in the URL would send them.
//
// Audience sampling (edit mode, room field `sample`): editors always hold a
// real Y.Doc. When a room sets `sample` = N, only its first N watchers do too
// (they measure latency like the editors); the other watchers are "light":
// real WebSocket connections doing the real sync handshake (step 1 sent, the
// server's step 1 answered with a step 2, step 2 received) that receive every
// frame but buffer the raw update payloads instead of applying each one. After
// the sends, each light watcher merges its buffer (Y.mergeUpdates), applies it
// once to a fresh Y.Doc and counts the edit markers in the text: that count is
// its delivered-edit count, and the text's hash goes into the convergence check
// like everyone else's. Light watchers do not measure latency.

import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import { readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { gunzipSync } from 'node:zlib'
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as syncProtocol from 'y-protocols/sync'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'

const HIST_BUCKET_US = 100 // latency histogram resolution: 0.1 ms
const HIST_SIZE = 600000 // up to 60 s
const REMOTE = Symbol('remote')
const LIGHT_QUIET_US = 100e3 // light watchers are verified once no frame reached any of them for this long
let lastLightFrameUs = 0

const nowUs = () => {
  const [s, ns] = process.hrtime()
  return s * 1e6 + ns / 1e3
}

// ---------------------------------------------------------------- protocol --

let dirtyClients = []
const flushPending = () => {
  const list = dirtyClients
  dirtyClients = []
  for (const c of list) c.applyPending()
}
const schedulePending = (client) => {
  if (dirtyClients.length === 0) setImmediate(flushPending)
  dirtyClients.push(client)
}

const MSG_SYNC = 0
const MSG_AWARENESS = 1
const MSG_AUTH = 2
const HP_SYNC_REPLY = 4
const HP_PING = 9
const HP_PONG = new Uint8Array([10])

/** A connection speaking either raw y-websocket or Hocuspocus framing. */
const EMPTY_STATE_VECTOR = Y.encodeStateVector(new Y.Doc())
const EMPTY_UPDATE = Y.encodeStateAsUpdate(new Y.Doc())

class Client {
  constructor ({ protocol, baseUrl, docId, index, token, onSynced, onClose, light = false }) {
    this.protocol = protocol
    this.docId = docId
    this.index = index
    this.light = light
    this.doc = light ? null : new Y.Doc()
    this.text = light ? null : this.doc.getText('bench')
    this.buffer = [] // light: raw update payloads received, not applied
    this.dirty = false // light: frames arrived since the last verify()
    this.lastFrameAt = 0
    this.synced = false
    this.closed = false
    this.sent = 0
    this.received = 0 // remote edits observed
    this.frames = 0
    this.onSynced = onSynced
    this.onClose = onClose
    this.onRemoteEdit = null
    let url
    if (protocol === 'hocuspocus') url = baseUrl
    else url = `${baseUrl}/${docId}`
    if (token) url += `?token=${encodeURIComponent(token)}`
    this.connectStart = nowUs()
    this.ws = new WebSocket(url, { perMessageDeflate: false })
    this.ws.on('open', () => this._open(token))
    this.ws.on('message', (data) => this._message(data))
    this.ws.on('close', (code, reason) => this._closed(code, String(reason)))
    this.ws.on('error', (err) => { this.error = String(err.message || err) })
    // Attached only around local edits: Yjs encodes an 'update' event for every
    // transaction while someone listens, which would double the cost of each
    // remote update applied.
    this._sendUpdate = (update, origin) => {
      if (origin === REMOTE || this.ws.readyState !== WebSocket.OPEN) return
      const enc = this._encoder(MSG_SYNC)
      syncProtocol.writeUpdate(enc, update)
      this.ws.send(encoding.toUint8Array(enc))
    }
    this.pending = [] // remote update payloads not applied yet
    this.cursor = null
    if (!light) {
      this.doc.on('afterTransaction', (tr) => {
        if (tr.origin === REMOTE && this.onRemoteEdit !== null) this._scanRemote(tr)
      })
    }
  }

  _encoder (type) {
    const enc = encoding.createEncoder()
    if (this.protocol === 'hocuspocus') encoding.writeVarString(enc, this.docId)
    encoding.writeVarUint(enc, type)
    return enc
  }

  _open (token) {
    if (this.protocol === 'hocuspocus') {
      const enc = this._encoder(MSG_AUTH)
      encoding.writeVarUint(enc, 0) // AuthMessageType.Token
      encoding.writeVarString(enc, token || '')
      this.ws.send(encoding.toUint8Array(enc))
    }
    const enc = this._encoder(MSG_SYNC)
    if (this.light) {
      // a light watcher starts empty, as a fresh Y.Doc would
      encoding.writeVarUint(enc, syncProtocol.messageYjsSyncStep1)
      encoding.writeVarUint8Array(enc, EMPTY_STATE_VECTOR)
    } else syncProtocol.writeSyncStep1(enc, this.doc)
    this.ws.send(encoding.toUint8Array(enc))
  }

  _message (data) {
    this.frames++
    if (this.protocol === 'hocuspocus' && data.length === 1 && data[0] === HP_PING) {
      this.ws.send(HP_PONG) // the provider's connection-level keep-alive (palabre sends it)
      return
    }
    const dec = decoding.createDecoder(data)
    if (this.protocol === 'hocuspocus') decoding.readVarString(dec)
    const type = decoding.readVarUint(dec)
    if (this.light) {
      if (type === MSG_SYNC || (this.protocol === 'hocuspocus' && type === HP_SYNC_REPLY)) this._lightSync(dec)
      return
    }
    if (type === MSG_SYNC || (this.protocol === 'hocuspocus' && type === HP_SYNC_REPLY)) {
      if (this.synced && decoding.peekVarUint(dec) === syncProtocol.messageYjsUpdate) {
        // Live updates are applied in one Yjs transaction per event-loop turn
        // (see flushPending): every update is applied, the per-transaction
        // overhead (state vectors, observers) is paid once per burst.
        decoding.readVarUint(dec)
        this.pending.push(decoding.readVarUint8Array(dec))
        if (this.pending.length === 1) schedulePending(this)
        return
      }
      this.applyPending()
      const replyType = this.protocol === 'hocuspocus' ? HP_SYNC_REPLY : MSG_SYNC
      const enc = this._encoder(replyType)
      const before = encoding.length(enc)
      const t = syncProtocol.readSyncMessage(dec, enc, this.doc, REMOTE)
      if (encoding.length(enc) > before) this.ws.send(encoding.toUint8Array(enc))
      if (t === syncProtocol.messageYjsSyncStep2 && !this.synced) {
        this.synced = true
        this.syncedAt = nowUs()
        if (this.onSynced) this.onSynced(this)
      }
    }
    // awareness, auth replies, Hocuspocus sync-status acks: nothing to do.
  }

  /** Sync messages for a light watcher: keep update payloads, answer step 1 from what it holds. */
  _lightSync (dec) {
    const t = decoding.readVarUint(dec)
    if (t === syncProtocol.messageYjsSyncStep1) {
      const sv = decoding.readVarUint8Array(dec)
      // (the servers send step 1 once, right after connecting: the buffer is empty then)
      const heldUpdates = this.lightDoc ? [Y.encodeStateAsUpdate(this.lightDoc), ...this.buffer] : this.buffer
      const held = heldUpdates.length === 0 ? EMPTY_UPDATE : Y.diffUpdate(Y.mergeUpdates(heldUpdates), sv)
      const enc = this._encoder(this.protocol === 'hocuspocus' ? HP_SYNC_REPLY : MSG_SYNC)
      encoding.writeVarUint(enc, syncProtocol.messageYjsSyncStep2)
      encoding.writeVarUint8Array(enc, held)
      this.ws.send(encoding.toUint8Array(enc))
      return
    }
    // step 2 or update: a Yjs update, kept as received
    this.buffer.push(decoding.readVarUint8Array(dec))
    this.dirty = true
    this.lastFrameAt = lastLightFrameUs = nowUs()
    if (t === syncProtocol.messageYjsSyncStep2 && !this.synced) {
      this.synced = true
      this.syncedAt = nowUs()
      if (this.onSynced) this.onSynced(this)
    }
  }

  /**
   * Light watcher: apply everything received to a fresh Y.Doc in one Yjs
   * transaction and return its text. (Y.mergeUpdates first and one applyUpdate
   * gives the same document but measured ~270 ms for a W5 buffer of 2,000
   * updates, superlinear; one transaction over the buffer ~15-30 ms.) An
   * incomplete watcher keeps its doc, so a later check applies only what came since.
   */
  lightText () {
    this.dirty = false
    const doc = this.lightDoc || (this.lightDoc = new Y.Doc())
    const updates = this.buffer
    this.buffer = []
    doc.transact(() => {
      for (const u of updates) Y.applyUpdate(doc, u, REMOTE)
    }, REMOTE)
    return doc.getText('bench').toString()
  }

  dropLightDoc () {
    if (this.lightDoc) this.lightDoc.destroy()
    this.lightDoc = null
  }

  applyPending () {
    if (this.pending.length === 0) return
    const updates = this.pending
    this.pending = []
    this.doc.transact(() => {
      for (const u of updates) Y.applyUpdate(this.doc, u, REMOTE)
    }, REMOTE)
  }

  _closed (code, reason) {
    if (this.closed) return
    this.closed = true
    this.closeCode = code
    this.closeReason = reason
    if (this.onClose) this.onClose(this)
  }

  /** Find the structs this remote transaction added and hand their text to onRemoteEdit. */
  _scanRemote (tr) {
    const store = this.doc.store
    tr.afterState.forEach((clock, client) => {
      const before = tr.beforeState.get(client) || 0
      if (clock <= before) return
      const structs = store.clients.get(client)
      let i = Y.findIndexSS(structs, before)
      for (; i < structs.length; i++) {
        const s = structs[i]
        if (s.id.clock >= clock) break
        if (s.content && typeof s.content.str === 'string') this.onRemoteEdit(this, s.content.str)
      }
    })
  }

  /**
   * Insert an edit whose text carries sender, sequence number and send time.
   *
   * Each client types at its own cursor, right after its previous edit, as a
   * person typing a paragraph does; the cursor is a Yjs relative position so
   * it follows concurrent edits. (Everyone inserting at index 0 would make every
   * remote insert conflict with every concurrent one, and Yjs would spend its
   * time in conflict resolution on the client side.)
   */
  edit () {
    const s = `${this.index.toString(36)}.${this.sent.toString(36)}.${Math.round(nowUs()).toString(36)};`
    this.sent++
    const at = this.cursor ? Y.createAbsolutePositionFromRelativePosition(this.cursor, this.doc).index : 0
    this.doc.on('update', this._sendUpdate)
    this.text.insert(at, s)
    this.doc.off('update', this._sendUpdate)
    this.cursor = Y.createRelativePositionFromTypeIndex(this.text, at + s.length, -1)
  }

  textHash () {
    const txt = this.light ? this.finalText : this.text.toString()
    return createHash('md5').update(txt).digest('hex')
  }

  close () {
    try { this.ws.terminate() } catch { /* already gone */ }
  }
}

// ------------------------------------------------------------- edit worker --

function runEditWorker () {
  const cfg = workerData.cfg
  const mine = workerData.clients // [{room, docId, index, editor}]
  const hist = new Uint32Array(HIST_SIZE)
  let maxLatUs = 0
  let latN = 0 // latency samples (editors and sampled watchers only)
  let badEdits = 0
  const clients = []
  let syncedCount = 0
  let closedEarly = 0
  let syncUs = []
  // The first client of each room connects (and syncs) before the others:
  // pycrdt-websocket 0.16.5 leaves clients hanging, never synced, when many
  // connect at once to a room that does not exist yet.
  const connectQueue = mine.filter((c) => c.index === 0)
  const rest = mine.filter((c) => c.index !== 0)
  let openersReported = false
  const reportOpeners = () => {
    if (!openersReported && syncedCount === mine.length - rest.length) {
      openersReported = true
      parentPort.postMessage({ type: 'openers' })
    }
  }
  let inFlight = 0
  const expectedFor = (c) => cfg.editsPerEditor * (c.roomEditors - (c.editor ? 1 : 0))

  const onRemoteEdit = (client, str) => {
    const now = nowUs()
    const parts = str.split(';')
    for (const p of parts) {
      if (p === '') continue
      const f = p.split('.')
      if (f.length !== 3) { badEdits++; continue }
      const sender = parseInt(f[0], 36)
      if (sender === client.index) continue
      const t = parseInt(f[2], 36)
      const lat = now - t
      if (lat > maxLatUs) maxLatUs = lat
      let b = Math.floor(lat / HIST_BUCKET_US)
      if (b < 0) b = 0
      if (b >= HIST_SIZE) b = HIST_SIZE - 1
      hist[b]++
      latN++
      client.received++
      if (client.received === client.expected) pendingClients--
    }
  }
  let pendingClients = 0 // clients with a Y.Doc that have not seen every remote edit yet
  let lightPending = 0 // light watchers not yet verified complete
  let lightVerifyUs = 0
  let lightVerifies = 0

  /** Light watcher: apply the merged buffer once, count the distinct remote edit markers. */
  const verifyLight = (c) => {
    const t = nowUs()
    const txt = c.lightText()
    c.finalText = txt
    const seen = new Set()
    for (const p of txt.split(';')) {
      if (p === '') continue
      const f = p.split('.')
      if (f.length !== 3) { if (!c.complete) badEdits++; continue }
      if (parseInt(f[0], 36) === c.index) continue
      seen.add(f[0] + '.' + f[1])
    }
    c.received = seen.size
    if (!c.complete && c.received === c.expected) {
      c.complete = true
      if (c.expected > 0) lightPending--
    }
    if (c.complete) c.dropLightDoc()
    lightVerifyUs += nowUs() - t
    lightVerifies++
  }

  // FNV-1a (32 bits) of a document id: which node a document-affine proxy picks
  const fnv1a = (text) => {
    let h = 0x811c9dc5
    for (const byte of Buffer.from(text, 'utf8')) h = Math.imul(h ^ byte, 0x01000193) >>> 0
    return h
  }

  const connectNext = () => {
    while (inFlight < cfg.connectConcurrency && connectQueue.length > 0) {
      const spec = connectQueue.shift()
      inFlight++
      const c = new Client({
        protocol: cfg.protocol,
        // `baseUrls` (several nodes of one cluster): each room's clients alternate over them
        baseUrl: cfg.baseUrls
          ? cfg.baseUrls[(cfg.affinity ? fnv1a(spec.docId) : spec.index) % cfg.baseUrls.length]
          : cfg.baseUrl,
        docId: spec.docId,
        index: spec.index,
        // `tokens` (bench/hostile.py): one principal per client, as real people are
        token: cfg.tokens ? cfg.tokens[spec.index % cfg.tokens.length] : cfg.token,
        light: spec.light,
        onSynced: (cl) => {
          // only edits made during this run count, not a document's earlier content
          cl.onRemoteEdit = cl.onRemoteEditAfterSync
          inFlight--
          syncedCount++
          syncUs.push(cl.syncedAt - cl.connectStart)
          connectNext()
          reportOpeners()
          if (syncedCount === mine.length) parentPort.postMessage({ type: 'ready', synced: syncedCount })
        },
        onClose: (cl) => {
          if (!cl.synced) {
            inFlight--
            parentPort.postMessage({ type: 'fail', error: `client ${cl.docId}/${cl.index} closed before sync: ${cl.closeCode} ${cl.closeReason} ${cl.error || ''}` })
          } else closedEarly++
        }
      })
      c.editor = spec.editor
      c.roomEditors = spec.roomEditors
      c.expected = expectedFor(c)
      c.onRemoteEditAfterSync = onRemoteEdit
      c.complete = false
      if (c.expected > 0) {
        if (c.light) lightPending++
        else pendingClients++
      }
      clients.push(c)
    }
  }
  reportOpeners()
  connectNext()

  parentPort.on('message', (msg) => {
    if (msg.type === 'connect-rest') {
      connectQueue.push(...rest)
      if (rest.length === 0 && syncedCount === mine.length) parentPort.postMessage({ type: 'ready', synced: syncedCount })
      connectNext()
      return
    }
    if (msg.type !== 'start') return
    const t0 = msg.t0
    const intervalUs = 1e6 / cfg.rate
    const editors = clients.filter((c) => c.editor)
    const lights = clients.filter((c) => c.light)
    for (const c of editors) c.phase = Math.random() * intervalUs
    const endSend = t0 + cfg.duration * 1e6
    const deadline = endSend + cfg.drainTimeout * 1e6
    let maxLagUs = 0
    let lagSum = 0
    let lagN = 0
    let sendDoneAt = null
    const tick = () => {
      const now = nowUs()
      let allSent = true
      if (now >= t0) {
        for (const c of editors) {
          if (c.sent >= cfg.editsPerEditor) continue
          if (c.closed) continue
          const due = Math.min(cfg.editsPerEditor, Math.floor((now - t0 - c.phase) / intervalUs) + 1)
          while (c.sent < due) {
            const lag = now - (t0 + c.phase + c.sent * intervalUs)
            if (lag > maxLagUs) maxLagUs = lag
            lagSum += lag
            lagN++
            c.edit()
          }
          if (c.sent < cfg.editsPerEditor) allSent = false
        }
      } else allSent = false
      if (allSent && sendDoneAt === null) sendDoneAt = nowUs()
      const fullDone = allSent && pendingClients <= 0
      if (fullDone && lightPending > 0 && now <= deadline) {
        // every client with a Y.Doc has everything: check the light watchers that
        // received frames since their last check, once the frames stopped coming
        if (now - lastLightFrameUs >= LIGHT_QUIET_US) {
          for (const c of lights) if (!c.complete && c.dirty) verifyLight(c)
        }
        if (lightPending > 0) { setTimeout(tick, 5); return }
      }
      if ((fullDone && lightPending <= 0) || now > deadline) {
        finish(t0, sendDoneAt, { maxLagUs, meanLagUs: lagN ? lagSum / lagN : 0 })
        return
      }
      setTimeout(tick, 1)
    }
    setTimeout(tick, Math.max(0, (t0 - nowUs()) / 1000))
  })

  const finish = (t0, sendDoneAt, lag) => {
    const doneAt = nowUs()
    const rooms = {}
    let received = 0
    let expected = 0
    let frames = 0
    let sent = 0
    let openAtEnd = 0
    for (const c of clients) if (c.light && (c.dirty || c.finalText === undefined)) verifyLight(c)
    for (const c of clients) {
      received += c.received
      expected += c.expected
      frames += c.frames
      sent += c.sent
      if (!c.closed) openAtEnd++
      const r = (rooms[c.docId] ||= [])
      r.push(cfg.hashTexts ? c.textHash() : String(c.light ? c.finalText.length : c.text.length))
    }
    for (const c of clients) c.close()
    parentPort.postMessage({
      type: 'result',
      hist,
      latN,
      maxLatUs,
      badEdits,
      lightVerifyUs,
      lightVerifies,
      received,
      expected,
      frames,
      sent,
      openAtEnd,
      closedEarly,
      rooms,
      sendDoneUs: sendDoneAt === null ? null : sendDoneAt - t0,
      doneUs: doneAt - t0,
      lag,
      syncUs
    })
    setTimeout(() => process.exit(0), 10)
  }
}

// ---------------------------------------------------------------- main side --

function percentile (hist, total, q) {
  if (total === 0) return null
  const target = Math.ceil(total * q)
  let acc = 0
  for (let i = 0; i < hist.length; i++) {
    acc += hist[i]
    if (acc >= target) return ((i + 0.5) * HIST_BUCKET_US) / 1000
  }
  return null
}

async function runEdit (cfg) {
  // room specs: either explicit `rooms`, or roomCount x clientsPerRoom
  let rooms = cfg.rooms
  if (!rooms) {
    rooms = []
    for (let r = 0; r < cfg.roomCount; r++) {
      rooms.push({ docId: `${cfg.docPrefix}-${r}`, clients: cfg.clientsPerRoom, editors: cfg.editorsPerRoom ?? cfg.clientsPerRoom })
    }
  }
  cfg.editsPerEditor = Math.round(cfg.rate * cfg.duration)
  const all = []
  const audience = { editors: 0, sampledWatchers: 0, lightWatchers: 0 }
  for (const room of rooms) {
    for (let i = 0; i < room.clients; i++) {
      const editor = i < room.editors
      // room.sample: how many watchers keep a Y.Doc (null/undefined: all of them)
      const light = !editor && room.sample != null && i - room.editors >= room.sample
      audience[editor ? 'editors' : light ? 'lightWatchers' : 'sampledWatchers']++
      all.push({ docId: room.docId, index: i, editor, light, roomEditors: room.editors })
    }
  }
  const nWorkers = Math.max(1, Math.min(cfg.workers, all.length))
  const parts = Array.from({ length: nWorkers }, () => [])
  all.forEach((c, i) => parts[i % nWorkers].push(c))
  const cpu0 = process.cpuUsage()
  const tConnect = nowUs()
  const workers = parts.map((clients) => new Worker(new URL(import.meta.url), { workerData: { role: 'edit', cfg, clients } }))
  const results = []
  let ready = 0
  let failed = null
  const connectDeadline = setTimeout(() => {
    failed = failed || `connect/sync timeout after ${cfg.connectTimeout}s (${ready}/${nWorkers} workers ready)`
    finalize()
  }, cfg.connectTimeout * 1000)
  let finalized = false
  let t0 = null
  let hardStop = null
  const finalize = () => {
    if (finalized) return
    finalized = true
    clearTimeout(connectDeadline)
    if (hardStop) clearTimeout(hardStop)
    const cpu = process.cpuUsage(cpu0)
    const out = { mode: 'edit', ok: failed === null, error: failed, config: { ...cfg, rooms: undefined }, rooms: rooms.length, clients: all.length, workers: nWorkers }
    // who measured latency: editors and sampled watchers hold a Y.Doc and time
    // every remote edit; light watchers only count and hash theirs at the end
    out.audience = { ...audience, latencyClients: audience.editors + audience.sampledWatchers }
    out.loadgenCpuS = (cpu.user + cpu.system) / 1e6
    if (results.length === nWorkers) {
      const hist = new Uint32Array(HIST_SIZE)
      let received = 0; let expected = 0; let frames = 0; let sent = 0; let maxLatUs = 0; let bad = 0; let open = 0; let closedEarly = 0
      let latN = 0; let lightVerifyUs = 0; let lightVerifies = 0
      let maxLag = 0; let doneUs = 0; let sendDoneUs = 0
      const roomTexts = {}
      const syncUs = []
      for (const r of results) {
        for (let i = 0; i < HIST_SIZE; i++) hist[i] += r.hist[i]
        received += r.received; expected += r.expected; frames += r.frames; sent += r.sent
        bad += r.badEdits; open += r.openAtEnd; closedEarly += r.closedEarly
        latN += r.latN; lightVerifyUs += r.lightVerifyUs; lightVerifies += r.lightVerifies
        maxLatUs = Math.max(maxLatUs, r.maxLatUs)
        maxLag = Math.max(maxLag, r.lag.maxLagUs)
        doneUs = Math.max(doneUs, r.doneUs)
        sendDoneUs = r.sendDoneUs === null ? null : (sendDoneUs === null ? null : Math.max(sendDoneUs, r.sendDoneUs))
        for (const [doc, hs] of Object.entries(r.rooms)) (roomTexts[doc] ||= []).push(...hs)
        syncUs.push(...r.syncUs)
      }
      let diverged = 0
      for (const hs of Object.values(roomTexts)) if (new Set(hs).size !== 1) diverged++
      syncUs.sort((a, b) => a - b)
      Object.assign(out, {
        sent,
        expectedDeliveries: expected,
        deliveries: received,
        allDelivered: received === expected,
        framesReceived: frames,
        converged: diverged === 0 && received === expected,
        divergedRooms: diverged,
        badEdits: bad,
        openAtEnd: open,
        closedEarly,
        latencySamples: latN,
        lightVerifies,
        lightVerifyS: lightVerifyUs / 1e6,
        p50Ms: percentile(hist, latN, 0.5),
        p99Ms: percentile(hist, latN, 0.99),
        maxMs: maxLatUs / 1000,
        sendWindowS: sendDoneUs === null ? null : sendDoneUs / 1e6,
        runS: doneUs / 1e6,
        deliveriesPerS: received / (cfg.duration),
        maxSendLagMs: maxLag / 1000,
        connectS: t0 === null ? null : (t0 - tConnect) / 1e6,
        syncP50Ms: syncUs.length ? syncUs[Math.floor(syncUs.length / 2)] / 1000 : null,
        syncMaxMs: syncUs.length ? syncUs[syncUs.length - 1] / 1000 : null
      })
    }
    process.stdout.write(JSON.stringify(out) + '\n')
    for (const w of workers) w.terminate()
    setTimeout(() => process.exit(0), 50)
  }
  let openers = 0
  for (const w of workers) {
    w.on('message', (msg) => {
      if (msg.type === 'openers') {
        openers++
        if (openers === nWorkers) for (const w2 of workers) w2.postMessage({ type: 'connect-rest' })
      } else if (msg.type === 'ready') {
        ready++
        if (ready === nWorkers) {
          clearTimeout(connectDeadline)
          t0 = nowUs() + 300e3
          for (const w2 of workers) w2.postMessage({ type: 'start', t0 })
          // bound the whole run: duration + drain + slack
          hardStop = setTimeout(() => { failed = failed || 'hard stop: workers did not report'; finalize() }, (cfg.duration + cfg.drainTimeout + 30) * 1000)
        }
      } else if (msg.type === 'fail') {
        failed = failed || msg.error
        finalize()
      } else if (msg.type === 'result') {
        results.push(msg)
        if (results.length === nWorkers) finalize()
      }
    })
    w.on('error', (err) => { failed = failed || `worker error: ${err.stack || err}`; finalize() })
  }
}

// ----------------------------------------------------------- trace / join --

function loadTrace (path) {
  const data = JSON.parse(gunzipSync(readFileSync(path)).toString('utf8'))
  return data
}

function connectOne (cfg, docId, timeoutS) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { c.close(); reject(new Error(`sync timeout after ${timeoutS}s`)) }, timeoutS * 1000)
    const c = new Client({
      protocol: cfg.protocol,
      baseUrl: cfg.baseUrl,
      docId,
      index: 0,
      token: cfg.token,
      onSynced: (cl) => { clearTimeout(timer); resolve(cl) },
      onClose: (cl) => { if (!cl.synced) { clearTimeout(timer); reject(new Error(`closed before sync: ${cl.closeCode} ${cl.closeReason} ${cl.error || ''}`)) } }
    })
  })
}

/** Round trip: send sync step 1 and wait for the step 2 answer (servers answer frames in order). */
function roundTrip (c, timeoutS) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`round-trip timeout after ${timeoutS}s`)), timeoutS * 1000)
    c.synced = false
    c.onSynced = () => { clearTimeout(timer); resolve() }
    const enc = c._encoder(MSG_SYNC)
    syncProtocol.writeSyncStep1(enc, c.doc) // the server answers once it has processed every earlier frame
    c.ws.send(encoding.toUint8Array(enc))
  })
}

async function runLoad (cfg) {
  const t = nowUs()
  const trace = loadTrace(cfg.trace)
  const c = await connectOne(cfg, cfg.docId, cfg.connectTimeout)
  const tReplay = nowUs()
  let batchOps = 0
  let frames = 0
  const flushEvery = cfg.batch
  const txns = trace.txns
  let i = 0
  const text = c.text
  c.doc.on('update', c._sendUpdate)
  if (trace.startContent) text.insert(0, trace.startContent)
  // Each batch of trace transactions becomes one Yjs transaction, i.e. one update frame.
  while (i < txns.length) {
    const end = Math.min(txns.length, i + flushEvery)
    c.doc.transact(() => {
      for (; i < end; i++) {
        for (const [pos, del, ins] of txns[i].patches) {
          if (del > 0) text.delete(pos, del)
          if (ins) text.insert(pos, ins)
          batchOps++
        }
      }
    })
    frames++
    // let the socket drain between batches, as a real client would
    if (c.ws.bufferedAmount > 4 << 20) await new Promise((r) => setTimeout(r, 5))
  }
  c.doc.off('update', c._sendUpdate)
  const replayS = (nowUs() - tReplay) / 1e6
  const matches = text.toString() === trace.endContent
  const tRt = nowUs()
  await roundTrip(c, cfg.syncTimeout)
  const rtS = (nowUs() - tRt) / 1e6
  const updateBytes = Y.encodeStateAsUpdate(c.doc).length
  const out = { mode: cfg.mode, ok: matches, error: matches ? null : 'replayed text differs from endContent', ops: batchOps, frames, replayS, roundTripS: rtS, loadS: (nowUs() - t) / 1e6, textLength: text.length, updateBytes }
  if (cfg.mode === 'coldjoin' && matches) {
    // The loader stays connected: the in-memory peers drop a document when its
    // last client leaves.
    out.joinMs = []
    for (let j = 0; j < cfg.joins; j++) {
      try {
        const f = await connectOne(cfg, cfg.docId, cfg.syncTimeout)
        out.joinMs.push((f.syncedAt - f.connectStart) / 1000)
        const txt = f.text.toString()
        f.close()
        if (txt !== trace.endContent) {
          out.ok = false
          out.error = `join ${j}: text differs from endContent (length ${txt.length} vs ${trace.endContent.length})`
          break
        }
      } catch (err) {
        out.ok = false
        out.error = `join ${j}: ${err.message || err}`
        break
      }
    }
  }
  c.close()
  process.stdout.write(JSON.stringify(out) + '\n')
  setTimeout(() => process.exit(0), 50)
}

async function runJoin (cfg) {
  const trace = cfg.trace ? loadTrace(cfg.trace) : null
  const cpu0 = process.cpuUsage()
  let out
  try {
    const c = await connectOne(cfg, cfg.docId, cfg.syncTimeout)
    const syncMs = (c.syncedAt - c.connectStart) / 1000
    const txt = c.text.toString()
    const matches = trace ? txt === trace.endContent : true
    out = { mode: 'join', ok: matches, error: matches ? null : `text differs from endContent (length ${txt.length} vs ${trace.endContent.length})`, syncMs, textLength: txt.length }
    c.close()
  } catch (err) {
    out = { mode: 'join', ok: false, error: String(err.message || err) }
  }
  const cpu = process.cpuUsage(cpu0)
  out.loadgenCpuS = (cpu.user + cpu.system) / 1e6
  process.stdout.write(JSON.stringify(out) + '\n')
  setTimeout(() => process.exit(0), 50)
}

// ------------------------------------------------------------------ entry --

if (!isMainThread) {
  if (workerData.role === 'edit') runEditWorker()
} else {
  const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'))
  const defaults = { joins: 3, workers: 2, connectConcurrency: 64, connectTimeout: 60, drainTimeout: 10, syncTimeout: 120, batch: 1000, hashTexts: true }
  for (const [k, v] of Object.entries(defaults)) if (cfg[k] === undefined) cfg[k] = v
  const run = { edit: runEdit, load: runLoad, coldjoin: runLoad, join: runJoin }[cfg.mode]
  if (!run) { console.error(`unknown mode ${cfg.mode}`); process.exit(2) }
  run(cfg).catch((err) => {
    process.stdout.write(JSON.stringify({ mode: cfg.mode, ok: false, error: String(err.stack || err) }) + '\n')
    process.exit(1)
  })
}
