// The page: `/` lists documents, `/d/{id}` opens one (editor, comments, stages).
import { api, ApiError, docPath } from './api.js'
import { Archive } from './archive.js'
import { Amendments } from './amendments.js'
import { Comments } from './comments.js'
import { SessionBar } from './sessionbar.js'
import { VotePanel } from './votes.js'
import { ConnectionState, connectDocument } from './connection.js'
import { clear, h } from './dom.js'
import { createEditor, createToolbar } from './editor.js'
import { t } from './i18n.js'
import { adoptTokenFromAddress, canEdit, colourOf, currentUser, hasProvider, loadSignin, setToken, signOut } from './session.js'

adoptTokenFromAddress()
let user = currentUser()
const root = document.getElementById('app')

function errorText (error) {
  return error instanceof ApiError ? `${t.error} ${error.status}: ${error.message}` : `${t.error}: ${error.message || error}`
}

function notice () {
  const box = h('div', { class: 'notice', role: 'alert', 'aria-live': 'assertive', hidden: true })
  return {
    element: box,
    show (error) { box.textContent = errorText(error); box.hidden = false },
    clear () { box.hidden = true },
  }
}

function signInBox () {
  const field = h('input', { id: 'token-field', name: 'token', type: 'password', autocomplete: 'off', required: true })
  const form = h('form', { class: 'sign-in' },
    h('label', { for: 'token-field' }, t.tokenLabel), field, h('button', { type: 'submit' }, t.signIn))
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    setToken(field.value)
    window.location.reload()
  })
  return form
}

function whoAmI () {
  const problem = user.invalid ? t.tokenInvalid : user.expired ? t.tokenExpired : null
  if ((!user.token && !user.signedIn) || problem) {
    const next = encodeURIComponent(window.location.pathname)
    return h('div', { class: 'who' }, problem ? h('p', { class: 'problem', role: 'alert' }, problem) : null,
      h('span', { class: 'role' }, t.visitor),
      hasProvider() ? h('a', { class: 'provider-sign-in', href: `/auth/login?next=${next}` }, t.signInProvider) : null,
      signInBox())
  }
  return h('div', { class: 'who' },
    h('span', { class: 'dot', style: `background:${colourOf(user.name)}` }),
    h('span', { class: 'name', 'data-role': user.role }, `${user.name} · ${user.role}`),
    h('button', { type: 'button', class: 'sign-out', onClick: () => signOut() }, t.signOut),
    user.signedIn ? h('button', { type: 'button', class: 'sign-out-everywhere', onClick: () => signOut({ everywhere: true }) }, t.signOutEverywhere) : null)
}

async function listPage () {
  document.title = `${t.documents} — palabre`
  const errors = notice()
  const list = h('ul', { class: 'documents', 'aria-labelledby': 'documents-heading' })
  const main = h('main', { class: 'list-page' },
    h('h1', { id: 'documents-heading' }, t.documents), errors.element, list)
  root.append(h('header', { class: 'top' }, h('span', { class: 'brand' }, 'palabre'), whoAmI()), main)
  try {
    const { documents } = await api('/documents?limit=200')
    if (!documents.length) list.append(h('li', { class: 'hint' }, t.noDocuments))
    for (const doc of documents) {
      list.append(h('li', {}, h('a', { href: `/d/${encodeURIComponent(doc.id)}` }, doc.title || doc.id), ' ', h('code', {}, doc.id)))
    }
  } catch (error) {
    errors.show(error)
  }
  if (user.role === 'facilitator' && !user.expired) main.append(createForm(errors))
}

function createForm (errors) {
  const id = h('input', { id: 'new-id', name: 'id', required: true, pattern: '[A-Za-z0-9._\\-]{1,128}' })
  const title = h('input', { id: 'new-title', name: 'title', required: true, maxlength: 500 })
  const form = h('form', { class: 'create', 'aria-labelledby': 'create-heading' },
    h('h2', { id: 'create-heading' }, t.newDocument),
    h('label', { for: 'new-id' }, t.docId), id,
    h('label', { for: 'new-title' }, t.docTitle), title,
    h('button', { type: 'submit' }, t.create))
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    try {
      await api('/documents', { method: 'POST', body: { id: id.value.trim(), title: title.value.trim() } })
      window.location.href = `/d/${encodeURIComponent(id.value.trim())}`
    } catch (error) {
      errors.show(error)
    }
  })
  return form
}

function viewerFor (section, titleEl, bodyEl, restoreFocus) {
  return {
    show (title, node, { focus = true } = {}) {
      titleEl.textContent = title
      clear(bodyEl).append(node)
      section.hidden = false
      if (focus) section.querySelector('button.close').focus()
    },
    hide () {
      section.hidden = true
      clear(bodyEl)
      restoreFocus()
    },
  }
}

async function documentPage (docId) {
  const errors = notice()
  const statusEl = h('span', { id: 'connection', role: 'status', 'aria-live': 'polite' })
  const presence = h('ul', { id: 'presence', class: 'presence', 'aria-label': t.here })
  const heading = h('h1', { id: 'doc-title' }, docId)
  const banner = h('p', { id: 'banner', class: 'banner', hidden: true })
  const sessionBar = h('section', { id: 'session-bar', class: 'session-bar', 'aria-label': t.sessionBar })
  const votePanel = h('section', { id: 'votes', class: 'panel votes', hidden: true, 'aria-labelledby': 'votes-heading' })
  const editorEl = h('div', { class: 'editor', id: 'editor' })
  const margin = h('div', { class: 'margin', 'aria-label': t.comments })
  const amendMargin = h('div', { class: 'amend-margin' })
  const amendmentsPanel = h('section', { class: 'panel amendments', id: 'amendments', 'aria-labelledby': 'amendments-heading' })
  const highlight = h('style', {})
  const commentsPanel = h('section', { class: 'panel comments', id: 'comments', 'aria-labelledby': 'comments-heading' })
  const archivePanel = h('section', { class: 'panel archive', id: 'archive', 'aria-labelledby': 'archive-heading' })
  const viewerTitle = h('h2', { id: 'viewer-title' })
  const viewerBody = h('div', { class: 'viewer-body' })
  const viewerSection = h('section', { class: 'viewer', id: 'viewer', hidden: true, 'aria-labelledby': 'viewer-title' },
    h('div', { class: 'viewer-head' }, viewerTitle, h('button', { type: 'button', class: 'close', onClick: () => viewer.hide() }, t.close)),
    viewerBody)
  const viewer = viewerFor(viewerSection, viewerTitle, viewerBody, () => editorEl.querySelector('.ProseMirror')?.focus())
  document.addEventListener('keydown', (event) => { if (event.key === 'Escape' && !viewerSection.hidden) viewer.hide() })

  const archiveOnly = user.role === 'public' || (!user.token && !user.signedIn) || user.expired || user.invalid
  const page = h('div', { class: 'page' }, h('div', { class: 'text-column' }, editorEl, amendMargin, margin))
  root.append(
    highlight,
    h('header', { class: 'top' },
      h('a', { href: '/', class: 'brand' }, `← ${t.back}`), heading,
      archiveOnly ? null : statusEl, archiveOnly ? null : presence, whoAmI()),
    h('div', { class: 'layout' },
      h('main', { class: 'main' }, errors.element, banner, archiveOnly ? null : sessionBar, archiveOnly ? null : votePanel, viewerSection, archiveOnly ? null : page),
      h('aside', { class: 'side' }, archiveOnly ? null : commentsPanel, archiveOnly ? null : amendmentsPanel, archivePanel)))

  api(docPath(docId)).then((meta) => {
    heading.textContent = meta.title || docId
    if (meta.annotations_sub && meta.annotations_sub !== user.annotationsSub) {
      user.annotationsSub = meta.annotations_sub
      window.dispatchEvent(new Event('palabre:whoami'))
    }
    document.title = `${meta.title || docId} — palabre`
  }).catch((error) => errors.show(error))

  if (archiveOnly) {
    banner.textContent = t.archiveOnly
    banner.hidden = false
    const archive = new Archive({ docId, user, panel: archivePanel, viewer, onError: (e) => errors.show(e), allowLive: false })
    try {
      const { snapshots } = await api(`${docPath(docId)}/snapshots`)
      archive.update({ snapshots })
      await archive.loadSessions()
      // Show the published text at once: the adopted version, else the latest one.
      const shown = [...snapshots].reverse().find((s) => s.adopted) || snapshots[snapshots.length - 1]
      if (shown) await archive.open(shown, { focus: false })
    } catch (error) {
      errors.show(error)
    }
    return
  }

  const colour = colourOf(user.name)
  // A facilitator took the right to edit away: the socket stays, read-only (the server
  // refuses any edit anyway), and the page says so.
  let demoted = false
  const mayEdit = () => canEdit(user) && !demoted
  // A freeze is shown by the status badge; any other refusal is worth telling.
  const onDenied = (reason) => {
    if (/^role changed/.test(reason)) {
      demoted = true
      errors.show(new Error(t.demoted))
      refresh()
      return
    }
    if (!/frozen/.test(reason) && !(demoted && /read-only/.test(reason))) errors.show(new Error(reason))
  }
  const text = connectDocument(docId, user.token, { onDenied })
  const notes = connectDocument(`${docId}.annotations`, user.token)
  notes.provider.awareness.setLocalState(null) // presence lives on the text's socket only
  const governance = notes.ydoc.getMap('governance')
  const annotations = notes.ydoc.getMap('annotations')
  const editor = createEditor({ element: editorEl, ydoc: text.ydoc, provider: text.provider, user, colour })
  const toolbar = createToolbar(editor)
  editorEl.before(toolbar.element)
  const connection = new ConnectionState(text.provider, text.ydoc, () => refresh())

  const archive = new Archive({ docId, user, panel: archivePanel, viewer, onError: (e) => errors.show(e), allowLive: true })
  const comments = new Comments({
    docId, user, annotations, editorElement: editorEl, margin, panel: commentsPanel, highlight,
    canComment: () => !governance.get('frozen') || governance.get('comments_open') === true,
    onError: (e) => errors.show(e),
    onSelect: (id) => amendments.select(id),
  })
  const amendments = new Amendments({
    docId, user, amendments: notes.ydoc.getMap('amendments'), settings: notes.ydoc.getMap('amendment_settings'),
    governance, editorElement: editorEl, margin: amendMargin, panel: amendmentsPanel,
    onSelect: (id) => comments.select(id), onError: (e) => errors.show(e),
  })

  const live = notes.ydoc.getMap('session')
  const bar = new SessionBar({ docId, user, live, element: sessionBar, onError: (e) => errors.show(e) })
  const votes = new VotePanel({ docId, user, amendments: notes.ydoc.getMap('amendments'), session: live, element: votePanel, onError: (e) => errors.show(e) })
  let shownSession = null
  live.observe(() => {
    const open = live.get('open')
    const number = open && typeof open === 'object' ? open.number : null
    if (number !== shownSession) { shownSession = number; archive.loadSessions() }
  })
  archive.loadSessions()

  function refresh () {
    const frozen = governance.get('frozen') === true
    const kind = connection.kind
    let state = kind
    if (kind === 'connected') state = frozen ? 'frozen' : mayEdit() ? 'connected' : 'readonly'
    statusEl.dataset.state = state
    statusEl.className = `status ${state}`
    statusEl.textContent = t[`status_${state}`] + (state === 'denied' && connection.closed ? ` (${connection.closed.code} ${connection.closed.reason})` : '')
    const editable = mayEdit() && !frozen && kind !== 'denied' && kind !== 'connecting'
    if (editor.isEditable !== editable) editor.setEditable(editable)
    editorEl.dataset.editable = String(editable)
    toolbar.refresh()
    const adopted = governance.get('adopted')
    banner.hidden = !frozen
    banner.textContent = frozen ? (adopted ? `${t.frozenBanner} ${t.adoptedBanner}.` : t.frozenBanner) : ''
  }

  function renderPresence () {
    clear(presence)
    const states = Array.from(text.provider.awareness.getStates().entries())
      .filter(([, state]) => state && state.user)
      .sort(([a], [b]) => (a === text.ydoc.clientID ? -1 : b === text.ydoc.clientID ? 1 : a - b))
    for (const [clientId, state] of states) {
      presence.append(h('li', { 'data-client': clientId },
        h('span', { class: 'dot', style: `background:${state.user.color}` }),
        state.user.name + (clientId === text.ydoc.clientID ? ` (${t.you})` : '')))
    }
  }

  text.provider.awareness.on('change', renderPresence)
  governance.observe(() => {
    archive.update(Object.fromEntries(governance.entries()))
    comments.renderPanel()
    refresh()
  })
  editor.on('update', () => { comments.schedule(); amendments.schedule() })
  editor.on('transaction', () => { comments.schedule(); amendments.schedule() })
  renderPresence()
  refresh()
  window.palabre = { editor, text, notes, connection, bar, votes } // for people debugging a session
}

async function start () {
  await loadSignin()
  user = currentUser()
  const match = window.location.pathname.match(/^\/d\/([A-Za-z0-9._-]{1,128})\/?$/)
  if (match) await documentPage(decodeURIComponent(match[1]))
  else await listPage()
}

start()
