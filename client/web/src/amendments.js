// Amendments: a count per paragraph in a second margin, and the panel of one paragraph's
// amendments (state, supports, author, redline), the "Propose an amendment" editor with a
// word diff as you type, and the facilitators' controls. Read live from the `amendments`
// map of `D.annotations`; every write goes through the HTTP API.
import { api, docPath } from './api.js'
import { clear, h } from './dom.js'
import { lang } from './i18n.js'
import { authorName, canModerate, isMe } from './session.js'

const BLOCKS = 'p[data-id], h1[data-id], h2[data-id], h3[data-id], h4[data-id], h5[data-id], h6[data-id]'
const OPEN = new Set(['submitted', 'evaluating'])
const STRINGS = {
  en: {
    amendments: 'Amendments',
    count: (n) => n === 0 ? 'Propose an amendment to this paragraph' : `${n} amendment${n > 1 ? 's' : ''} on this paragraph`,
    none: 'No amendment on this paragraph.',
    pick: 'Pick a paragraph in the margin to see or propose amendments.',
    propose: 'Propose an amendment',
    kind_replace: 'New wording',
    kind_insert_after: 'New paragraph after this one',
    kind_delete: 'Delete this paragraph',
    justification: 'Justification',
    submit: 'Submit',
    cancel: 'Cancel',
    preview: 'Changes',
    support: 'Support',
    unsupport: 'Take back support',
    withdraw: 'Withdraw',
    accept: 'Accept',
    reject: 'Reject',
    rebase: 'Rebase',
    reason: 'Reason for rejecting',
    supports: (n) => `${n} support${n === 1 ? '' : 's'}`,
    outdated: 'Outdated: the words it changes were changed since. Base / now / proposed:',
    base: 'Base', now: 'Now', proposed: 'Proposed',
    closed: 'Amendments are not open to you on this text now.',
    state_submitted: 'submitted', state_withdrawn: 'withdrawn', state_evaluating: 'put to a vote',
    state_accepted: 'accepted', state_rejected: 'rejected',
    openToCitizens: 'Open amendments to citizens',
    closeToCitizens: 'Close amendments to citizens',
    tally: (t) => `for ${t.for}, against ${t.against}, abstain ${t.abstain}`,
  },
  fr: {
    amendments: 'Amendements',
    count: (n) => n === 0 ? 'Proposer un amendement à ce paragraphe' : `${n} amendement${n > 1 ? 's' : ''} sur ce paragraphe`,
    none: 'Aucun amendement sur ce paragraphe.',
    pick: 'Choisissez un paragraphe dans la marge pour voir ou proposer des amendements.',
    propose: 'Proposer un amendement',
    kind_replace: 'Nouvelle rédaction',
    kind_insert_after: 'Nouveau paragraphe après celui-ci',
    kind_delete: 'Supprimer ce paragraphe',
    justification: 'Exposé des motifs',
    submit: 'Déposer',
    cancel: 'Annuler',
    preview: 'Modifications',
    support: 'Soutenir',
    unsupport: 'Retirer mon soutien',
    withdraw: 'Retirer',
    accept: 'Adopter',
    reject: 'Rejeter',
    rebase: 'Mettre à jour',
    reason: 'Motif du rejet',
    supports: (n) => `${n} soutien${n > 1 ? 's' : ''}`,
    outdated: 'Caduc : les mots qu\u2019il modifie ont changé depuis. Base / maintenant / proposé :',
    base: 'Base', now: 'Maintenant', proposed: 'Proposé',
    closed: 'Les amendements ne vous sont pas ouverts sur ce texte pour l\u2019instant.',
    state_submitted: 'déposé', state_withdrawn: 'retiré', state_evaluating: 'mis aux voix',
    state_accepted: 'adopté', state_rejected: 'rejeté',
    openToCitizens: 'Ouvrir les amendements aux citoyens',
    closeToCitizens: 'Fermer les amendements aux citoyens',
    tally: (t) => `pour ${t.for}, contre ${t.against}, abstention ${t.abstain}`,
  },
}
export const at = STRINGS[lang]

// Words, runs of spaces and single punctuation marks: the server cuts wordings the same way.
export function tokens (text) {
  return text.match(/[\p{L}\p{N}_]+|\s+|[^\p{L}\p{N}_\s]/gu) || []
}

// A word diff: [[op, text]] with op '=', '-' or '+' (longest common subsequence of tokens).
export function wordDiff (before, after) {
  const a = tokens(before).slice(0, 600)
  const b = tokens(after).slice(0, 600)
  const lcs = Array.from({ length: a.length + 1 }, () => new Uint16Array(b.length + 1))
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1])
    }
  }
  const out = []
  const push = (op, text) => {
    const last = out[out.length - 1]
    if (last && last[0] === op) last[1] += text
    else out.push([op, text])
  }
  let i = 0; let j = 0
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) { push('=', a[i]); i++; j++ } else if (j < b.length && (i === a.length || lcs[i][j + 1] > lcs[i + 1][j])) { push('+', b[j]); j++ } else { push('-', a[i]); i++ }
  }
  return out
}

export function redline (before, after) {
  return h('span', { class: 'redline' }, wordDiff(before, after).map(([op, text]) =>
    op === '=' ? text : h(op === '+' ? 'ins' : 'del', {}, text)))
}

export class Amendments {
  constructor ({ docId, user, amendments, settings, governance, editorElement, margin, panel, onSelect, onError }) {
    Object.assign(this, { docId, user, amendments, settings, governance, editorElement, margin, panel, onSelect, onError })
    this.selected = null
    this.proposing = null // kind being drafted
    this.scheduled = false
    amendments.observeDeep(() => { this.schedule(); this.render() })
    settings.observe(() => this.render())
    window.addEventListener('palabre:whoami', () => this.render())
    governance.observe(() => this.render())
    window.addEventListener('resize', () => this.schedule())
    this.render()
  }

  entries () {
    return Array.from(this.amendments.values())
      .map((entry) => (typeof entry.toJSON === 'function' ? entry.toJSON() : entry))
      .filter((entry) => entry && entry.paragraph_id)
      .sort((a, b) => String(a.created_at).localeCompare(String(b.created_at)))
  }

  mayPropose () {
    const open = this.settings.get('open') === true
    const frozen = this.governance.get('frozen') === true
    if (this.user.role === 'citizen') return open
    if (this.user.role === 'member' || this.user.role === 'facilitator') return open || !frozen
    return false
  }

  schedule () {
    if (this.scheduled) return
    this.scheduled = true
    requestAnimationFrame(() => { this.scheduled = false; this.renderMargin() })
  }

  renderMargin () {
    const counts = new Map()
    for (const entry of this.entries()) {
      if (OPEN.has(entry.state)) counts.set(entry.paragraph_id, (counts.get(entry.paragraph_id) || 0) + 1)
    }
    const origin = this.margin.getBoundingClientRect().top
    clear(this.margin)
    for (const block of this.editorElement.querySelectorAll(BLOCKS)) {
      const id = block.getAttribute('data-id')
      const count = counts.get(id) || 0
      const button = h('button', {
        type: 'button',
        class: `amend-button${count ? ' has-amendments' : ''}${id === this.selected ? ' selected' : ''}`,
        'data-paragraph': id, 'aria-label': at.count(count), title: at.count(count),
        onClick: () => this.onSelect(id),
      }, count ? `§${count}` : '§')
      button.style.top = `${block.getBoundingClientRect().top - origin}px`
      this.margin.append(button)
    }
  }

  select (paragraphId) {
    if (paragraphId !== this.selected) this.proposing = null
    this.selected = paragraphId
    this.renderMargin()
    this.render()
  }

  paragraphText (id) {
    const block = id && this.editorElement.querySelector(`[data-id="${CSS.escape(id)}"]`)
    if (!block) return ''
    const copy = block.cloneNode(true)
    copy.querySelectorAll('.collaboration-carets__caret').forEach((caret) => caret.remove())
    return copy.textContent
  }

  render () {
    // Keep a draft being typed when something elsewhere redraws the panel.
    const draft = this.panel.querySelector('form.propose')
    const kept = draft ? { text: draft.querySelector('textarea[name=text]')?.value, why: draft.querySelector('textarea[name=justification]')?.value } : null
    const panel = clear(this.panel)
    panel.append(h('h2', { id: 'amendments-heading' }, at.amendments))
    if (canModerate(this.user)) panel.append(this.openSwitch())
    if (!this.selected) {
      panel.append(h('p', { class: 'hint' }, at.pick))
      return
    }
    const mine = this.entries().filter((entry) => entry.paragraph_id === this.selected)
    if (!mine.length) panel.append(h('p', { class: 'hint' }, at.none))
    const list = h('ol', { class: 'amendment-list' })
    for (const entry of mine) list.append(this.renderOne(entry))
    panel.append(list)
    if (this.proposing) {
      panel.append(this.proposeForm(this.proposing, kept))
    } else if (this.mayPropose()) {
      const choices = h('div', { class: 'actions propose-choices' })
      for (const kind of ['replace', 'insert_after', 'delete']) {
        choices.append(h('button', { type: 'button', 'data-kind': kind, onClick: () => { this.proposing = kind; this.render() } }, at[`kind_${kind}`]))
      }
      panel.append(h('h3', {}, at.propose), choices)
    } else if (this.user.role !== 'public') {
      panel.append(h('p', { class: 'hint' }, at.closed))
    }
  }

  openSwitch () {
    const open = this.settings.get('open') === true
    return h('div', { class: 'actions' }, h('button', {
      type: 'button', 'data-action': 'amendments-open', 'aria-pressed': String(open),
      onClick: () => this.run(() => api(docPath(this.docId), { method: 'PATCH', body: { amendments_open: !open } })),
    }, open ? at.closeToCitizens : at.openToCitizens))
  }

  renderOne (entry) {
    const path = `${docPath(this.docId)}/amendments/${encodeURIComponent(entry.id)}`
    const supports = entry.supports || {}
    const count = Object.keys(supports).length
    const item = h('li', { class: `amendment state-${entry.state}`, 'data-amendment': entry.id, 'data-state': entry.state })
    item.append(h('div', { class: 'meta' },
      h('strong', {}, authorName(this.user, entry.author)), ' · ',
      h('span', { class: `badge ${entry.state}` }, at[`state_${entry.state}`] || entry.state), ' · ',
      h('span', { class: 'supports' }, at.supports(count)),
      entry.tally ? h('span', { class: 'tally' }, ' · ', at.tally(entry.tally)) : null))
    if (entry.kind === 'replace') item.append(h('p', { class: 'change' }, redline(entry.base, entry.text)))
    else if (entry.kind === 'insert_after') item.append(h('p', { class: 'change' }, h('ins', {}, entry.text)))
    else item.append(h('p', { class: 'change' }, h('del', {}, entry.base)))
    if (entry.justification) item.append(h('p', { class: 'justification' }, entry.justification))
    if (entry.reason) item.append(h('p', { class: 'reason' }, entry.reason))
    if (entry.outdated && OPEN.has(entry.state)) {
      const now = this.paragraphText(entry.paragraph_id)
      item.append(h('div', { class: 'three-way' }, h('p', {}, at.outdated),
        h('p', {}, h('strong', {}, `${at.base} : `), entry.base),
        h('p', {}, h('strong', {}, `${at.now} : `), redline(entry.base, now)),
        h('p', {}, h('strong', {}, `${at.proposed} : `), redline(entry.base, entry.text))))
    }
    const actions = h('div', { class: 'actions' })
    const button = (action, label, run) => actions.append(h('button', { type: 'button', 'data-action': action, onClick: () => this.run(run) }, label))
    if (OPEN.has(entry.state) && this.user.role !== 'public') {
      if (Object.keys(supports).some((sub) => isMe(this.user, sub))) button('unsupport', at.unsupport, () => api(`${path}/support`, { method: 'DELETE' }))
      else button('support', at.support, () => api(`${path}/support`, { method: 'POST' }))
      if (isMe(this.user, entry.author?.sub) && entry.state === 'submitted') button('withdraw', at.withdraw, () => api(`${path}/withdraw`, { method: 'POST' }))
      if (entry.outdated && (isMe(this.user, entry.author?.sub) || canModerate(this.user))) {
        button('rebase', at.rebase, () => api(`${path}/rebase`, { method: 'POST', body: {} }))
      }
      if (canModerate(this.user)) {
        button('accept', at.accept, () => api(`${path}/accept`, { method: 'POST' }))
        const reason = h('input', { name: 'reason', 'aria-label': at.reason, placeholder: at.reason, maxlength: 2000 })
        actions.append(reason)
        button('reject', at.reject, () => api(`${path}/reject`, { method: 'POST', body: { reason: reason.value.trim() || '—' } }))
      }
    }
    if (actions.childNodes.length) item.append(actions)
    return item
  }

  proposeForm (kind, kept) {
    const base = this.paragraphText(this.selected)
    const text = h('textarea', { name: 'text', id: 'amendment-text', rows: 4, maxlength: 20000, 'aria-label': at[`kind_${kind}`] })
    text.value = kept?.text ?? (kind === 'replace' ? base : '')
    const why = h('textarea', { name: 'justification', id: 'amendment-why', rows: 2, maxlength: 20000 })
    why.value = kept?.why ?? ''
    const preview = h('p', { class: 'preview', 'aria-live': 'polite' })
    const show = () => {
      const value = text.value.replace(/\s*\n\s*/g, ' ')
      clear(preview).append(kind === 'replace' ? redline(base, value) : kind === 'insert_after' ? h('ins', {}, value) : h('del', {}, base))
    }
    text.addEventListener('input', show)
    show()
    const form = h('form', { class: 'propose', 'data-kind': kind },
      h('h3', {}, at[`kind_${kind}`]),
      kind === 'delete' ? null : text,
      h('p', { class: 'hint' }, at.preview), preview,
      h('label', { for: 'amendment-why' }, at.justification), why,
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, at.submit),
        h('button', { type: 'button', onClick: () => { this.proposing = null; this.render() } }, at.cancel)))
    form.addEventListener('submit', (event) => {
      event.preventDefault()
      const body = { paragraph_id: this.selected, kind }
      if (kind !== 'delete') body.text = text.value.replace(/\s*\n\s*/g, ' ').trim()
      if (why.value.trim()) body.justification = why.value.trim()
      this.run(async () => {
        await api(`${docPath(this.docId)}/amendments`, { method: 'POST', body })
        this.proposing = null
        this.render()
      })
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
