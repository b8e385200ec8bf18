// The comment margin (a count beside each paragraph) and the thread panel of one paragraph.
// Read live from `D.annotations`; every write goes through the HTTP API. The server seals the
// words of a hidden comment out of the document (`sealed_body`): moderators read them by API.
import { api, docPath } from './api.js'
import { clear, h } from './dom.js'
import { lang, t } from './i18n.js'
import { authorName, canModerate, isMe } from './session.js'

const COMMENTABLE = 'p[data-id], h1[data-id], h2[data-id], h3[data-id], h4[data-id], h5[data-id], h6[data-id]'

export class Comments {
  constructor ({ docId, user, annotations, editorElement, margin, panel, highlight, canComment, onError, onSelect = () => {} }) {
    this.docId = docId
    this.user = user
    this.annotations = annotations // Y.Map
    this.editorElement = editorElement
    this.margin = margin
    this.panel = panel
    this.highlight = highlight // a <style> element
    this.canComment = canComment
    this.onError = onError
    this.onSelect = onSelect // the amendments panel follows the chosen paragraph
    this.selected = null
    this.editing = null
    this.scheduled = false
    this.unsealed = new Map() // sealed_body -> the words, as the API gave them to a moderator
    this.unsealing = new Set() // annotation ids being fetched
    annotations.observeDeep(() => { this.schedule(); this.renderPanel() })
    window.addEventListener('palabre:whoami', () => this.renderPanel())
    window.addEventListener('resize', () => this.schedule())
    this.renderPanel()
  }

  entries () {
    return Array.from(this.annotations.values())
      .map((entry) => (typeof entry.toJSON === 'function' ? entry.toJSON() : entry))
      .filter((entry) => entry && entry.paragraph_id && (entry.status !== 'hidden' || canModerate(this.user)))
      .sort((a, b) => String(a.created_at).localeCompare(String(b.created_at)))
  }

  schedule () {
    if (this.scheduled) return
    this.scheduled = true
    requestAnimationFrame(() => { this.scheduled = false; this.renderMargin() })
  }

  renderMargin () {
    const counts = new Map()
    for (const entry of this.entries()) {
      if (entry.status === 'hidden') continue
      counts.set(entry.paragraph_id, (counts.get(entry.paragraph_id) || 0) + 1)
    }
    const origin = this.margin.getBoundingClientRect().top
    clear(this.margin)
    for (const block of this.editorElement.querySelectorAll(COMMENTABLE)) {
      const id = block.getAttribute('data-id')
      const count = counts.get(id) || 0
      const button = h('button', {
        type: 'button',
        class: `margin-button${count ? ' has-comments' : ''}${id === this.selected ? ' selected' : ''}`,
        'data-paragraph': id,
        'aria-label': t.commentCount(count),
        'aria-pressed': String(id === this.selected),
        title: t.commentCount(count),
        onClick: () => this.select(id),
      }, count ? String(count) : '+')
      button.style.top = `${block.getBoundingClientRect().top - origin}px`
      this.margin.append(button)
    }
  }

  select (paragraphId) {
    this.selected = paragraphId
    this.highlight.textContent = paragraphId
      ? `.editor [data-id="${CSS.escape(paragraphId)}"] { background: var(--highlight); box-shadow: -4px 0 0 var(--accent); }`
      : ''
    this.editing = null
    this.renderMargin()
    this.renderPanel()
    this.onSelect(paragraphId)
    const field = this.panel.querySelector('textarea')
    if (field) field.focus()
  }

  paragraphText (id) {
    const block = id && this.editorElement.querySelector(`[data-id="${CSS.escape(id)}"]`)
    return block ? block.textContent : ''
  }

  renderPanel () {
    // Keep what someone is typing when a comment from elsewhere re-renders the panel.
    const drafts = new Map([...this.panel.querySelectorAll('textarea[data-draft]')].map((field) => [field.dataset.draft, field.value]))
    const focused = document.activeElement?.dataset?.draft
    this.drawPanel()
    for (const field of this.panel.querySelectorAll('textarea[data-draft]')) {
      if (drafts.has(field.dataset.draft)) field.value = drafts.get(field.dataset.draft)
      if (field.dataset.draft === focused) field.focus()
    }
  }

  drawPanel () {
    const panel = clear(this.panel)
    panel.append(h('h2', { id: 'comments-heading' }, t.comments))
    if (!this.selected) {
      panel.append(h('p', { class: 'hint' }, t.pickParagraph))
      return
    }
    const quote = this.paragraphText(this.selected)
    panel.append(h('blockquote', { class: 'quote' }, quote.length > 160 ? quote.slice(0, 160) + '…' : quote))
    const threads = this.entries().filter((entry) => entry.paragraph_id === this.selected)
    if (!threads.length) panel.append(h('p', { class: 'hint' }, t.noComments))
    const list = h('ol', { class: 'threads', 'aria-label': t.commentsOn })
    for (const entry of threads) list.append(this.renderThread(entry))
    panel.append(list)
    if (this.canComment()) {
      panel.append(this.form(t.newComment, t.post, async (body) => {
        await api(`${docPath(this.docId)}/annotations`, {
          method: 'POST', body: { paragraph_id: this.selected, body, quote: quote.slice(0, 500) || undefined },
        })
      }, 'new-comment', '', null, `new:${this.selected}`))
    } else if (this.user.role !== 'public') {
      panel.append(h('p', { class: 'hint' }, t.commentsClosed))
    }
  }

  renderThread (entry) {
    const path = `${docPath(this.docId)}/annotations/${encodeURIComponent(entry.id)}`
    const item = h('li', { class: `thread status-${entry.status}`, 'data-annotation': entry.id })
    item.append(this.renderMessage(entry, path, false, entry.id))
    const replies = h('ol', { class: 'replies' })
    for (const reply of entry.replies || []) {
      if (reply.status === 'hidden' && !canModerate(this.user)) continue
      replies.append(h('li', { class: 'reply' }, this.renderMessage(reply, `${path}/replies/${encodeURIComponent(reply.id)}`, true, entry.id)))
    }
    item.append(replies)
    if (this.canComment() && entry.status !== 'hidden') {
      item.append(this.form(t.replyLabel, t.reply, async (body) => {
        await api(`${path}/replies`, { method: 'POST', body: { body } })
      }, 'reply', '', null, `reply:${entry.id}`))
    }
    return item
  }

  wordsOf (message, annotationId) {
    if (!message.sealed_body) return message.body
    const known = this.unsealed.get(message.sealed_body)
    if (known !== undefined) return known
    if (canModerate(this.user)) this.unseal(annotationId)
    return t.unsealing
  }

  async unseal (annotationId) {
    if (this.unsealing.has(annotationId)) return
    this.unsealing.add(annotationId)
    try {
      const found = await api(`${docPath(this.docId)}/annotations/${encodeURIComponent(annotationId)}`)
      const live = this.annotations.get(annotationId)
      const entry = live && typeof live.toJSON === 'function' ? live.toJSON() : live
      if (!entry) return
      if (entry.sealed_body) this.unsealed.set(entry.sealed_body, found.body)
      for (const reply of entry.replies || []) {
        const words = (found.replies || []).find((each) => each.id === reply.id)
        if (reply.sealed_body && words) this.unsealed.set(reply.sealed_body, words.body)
      }
      this.renderPanel()
    } catch (error) {
      this.onError(error)
    } finally {
      this.unsealing.delete(annotationId)
    }
  }

  renderMessage (message, path, isReply, annotationId) {
    const when = new Date(message.created_at).toLocaleString(lang, { dateStyle: 'short', timeStyle: 'short' })
    const head = h('div', { class: 'meta' },
      h('strong', {}, authorName(this.user, message.author)), ' · ', h('time', { datetime: message.created_at }, when),
      !isReply ? h('span', { class: `badge ${message.status}` }, t[`status_${message.status}`]) : null)
    const box = h('div', { class: 'message' }, head)
    if (this.editing === (message.id)) {
      box.append(this.form(t.edit, t.save, async (body) => {
        await api(path, { method: 'PATCH', body: { body } })
        this.editing = null
      }, 'edit', this.wordsOf(message, annotationId), () => { this.editing = null; this.renderPanel() }, `edit:${message.id}`))
      return box
    }
    box.append(h('p', { class: 'body' }, this.wordsOf(message, annotationId)))
    const actions = h('div', { class: 'actions' })
    if (isMe(this.user, message.author?.sub) && this.canComment()) {
      actions.append(h('button', { type: 'button', onClick: () => { this.editing = message.id; this.renderPanel() } }, t.edit))
    }
    if (!isReply && canModerate(this.user)) {
      const set = (status) => () => this.run(() => api(path, { method: 'PATCH', body: { status } }))
      if (message.status !== 'resolved') actions.append(h('button', { type: 'button', 'data-action': 'resolve', onClick: set('resolved') }, t.resolve))
      if (message.status !== 'hidden') actions.append(h('button', { type: 'button', 'data-action': 'hide', onClick: set('hidden') }, t.hide))
      if (message.status !== 'open') actions.append(h('button', { type: 'button', 'data-action': 'reopen', onClick: set('open') }, t.reopen))
    }
    if (actions.childNodes.length) box.append(actions)
    return box
  }

  form (label, action, submit, name, initial = '', onCancel = null, draft = null) {
    const id = `field-${name}-${Math.random().toString(36).slice(2, 8)}`
    const field = h('textarea', { id, name, rows: 2, required: true, maxlength: 10000, 'data-draft': draft })
    field.value = initial
    const form = h('form', { class: `comment-form ${name}` },
      h('label', { for: id }, label), field,
      h('div', { class: 'actions' },
        h('button', { type: 'submit' }, action),
        onCancel ? h('button', { type: 'button', onClick: onCancel }, t.cancel) : null))
    form.addEventListener('submit', (event) => {
      event.preventDefault()
      const body = field.value.trim()
      if (!body) return
      this.run(async () => {
        await submit(body)
        // The panel may have been redrawn meanwhile (with this draft): empty the live field.
        const live = draft ? this.panel.querySelector(`textarea[data-draft="${CSS.escape(draft)}"]`) : null
        for (const each of [field, live]) if (each) each.value = ''
      })
    })
    field.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) form.requestSubmit()
    })
    return form
  }

  async run (action) {
    try {
      await action()
    } catch (error) {
      this.onError(error)
    }
  }
}
