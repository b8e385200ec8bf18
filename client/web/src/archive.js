// Stages: the timeline of snapshots (live from the `governance` map), a read-only view of
// any snapshot, the diff of two versions, and the facilitators' buttons.
import { api, docPath } from './api.js'
import { authorsView } from './authors.js'
import { clear, h } from './dom.js'
import { lang, t } from './i18n.js'
import { canModerate, readToken } from './session.js'

export class Archive {
  constructor ({ docId, user, panel, viewer, onError, allowLive }) {
    this.docId = docId
    this.user = user
    this.panel = panel
    this.viewer = viewer // { show(title, node), hide() }
    this.onError = onError
    this.allowLive = allowLive
    this.state = { frozen: false, comments_open: false, snapshots: [], adopted: null }
    this.confirmingAdoption = false
    this.sessions = []
    this.asked = 0 // the viewer shows the answer to the last thing asked, not the slowest
    this.render()
  }

  // The document's sessions (their minutes once closed), read again when one opens or closes.
  async loadSessions () {
    try {
      const { sessions } = await api(`${docPath(this.docId)}/sessions`)
      this.sessions = sessions
      this.render()
    } catch (error) {
      this.onError(error)
    }
  }

  update (state) {
    this.state = { ...this.state, ...state }
    this.render()
  }

  render () {
    const panel = clear(this.panel)
    panel.append(h('h2', { id: 'archive-heading' }, t.archive))
    if (canModerate(this.user)) panel.append(this.renderControls())
    if (this.allowLive) {
      panel.append(h('button', { type: 'button', 'data-action': 'authors-live', onClick: () => this.authors('live', t.live) }, t.authorsOf(t.live)))
    }
    panel.append(h('h3', {}, t.timeline))
    const snapshots = this.state.snapshots || []
    if (!snapshots.length) panel.append(h('p', { class: 'hint' }, t.noSnapshots))
    const stages = new Map()
    for (const snapshot of snapshots) {
      if (!stages.has(snapshot.stage)) stages.set(snapshot.stage, [])
      stages.get(snapshot.stage).push(snapshot)
    }
    const timeline = h('ol', { class: 'timeline', 'aria-label': t.timeline })
    for (const [stage, members] of stages) {
      timeline.append(h('li', { class: 'stage' },
        h('span', { class: 'stage-name' }, stage),
        h('ol', {}, members.map((snapshot) => h('li', { class: 'snapshot', 'data-snapshot': snapshot.id },
          h('button', { type: 'button', class: 'link', onClick: () => this.open(snapshot) },
            t.snapshotOf(snapshot.number, snapshot.label)),
          ' ',
          h('button', { type: 'button', class: 'link authors', 'data-action': 'authors', onClick: () => this.authors(String(snapshot.number), t.snapshotOf(snapshot.number, snapshot.label)) },
            t.authors),
          snapshot.adopted ? h('span', { class: 'badge adopted' }, t.adopted) : null,
          h('small', {}, ` ${new Date(snapshot.created_at * 1000).toLocaleString(lang, { dateStyle: 'short', timeStyle: 'short' })}`,
            snapshot.created_by_name ? ` · ${snapshot.created_by_name}` : ''))))))
    }
    panel.append(timeline)
    if (this.sessions.length) panel.append(this.renderSessions())
    if (snapshots.length) {
      // The public archive page: every version's downloads, and the chain checked there.
      const token = readToken()
      const href = `/archive/${encodeURIComponent(this.docId)}${token ? `?token=${encodeURIComponent(token)}` : ''}`
      panel.append(h('p', { class: 'public-archive' },
        h('a', { href, target: '_blank', rel: 'noopener' }, t.publicArchive)))
    }
    if (snapshots.length + (this.allowLive ? 1 : 0) >= 2) panel.append(this.renderCompare(snapshots))
  }

  renderSessions () {
    const when = (seconds) => new Date(seconds * 1000).toLocaleString(lang, { dateStyle: 'short', timeStyle: 'short' })
    return h('div', { class: 'sessions' }, h('h3', {}, t.sessions),
      h('ol', { class: 'session-list', 'aria-label': t.sessions }, this.sessions.map((session) =>
        h('li', { 'data-session': session.number, 'data-state': session.closed_at ? 'closed' : 'open' },
          t.sessionNamed(session.number, session.title),
          h('small', {}, ` · ${t[`kind_${session.kind}`] || session.kind} · ${when(session.opened_at)}`),
          session.closed_at
            ? h('button', { type: 'button', class: 'link', 'data-action': 'minutes', onClick: () => this.minutes(session) }, t.minutes)
            : h('span', { class: 'badge' }, t.sessionOpen)))))
  }

  async minutes (session) {
    const asked = ++this.asked
    await this.run(async () => {
      const html = await api(`${docPath(this.docId)}/sessions/${session.number}/minutes?format=html`, { raw: true })
      const body = h('div', { class: 'prose minutes', 'data-session': session.number })
      body.innerHTML = html // rendered by the server with every value escaped (`server.modules.minutes`)
      this.present(asked, `${t.minutes} · ${t.sessionNamed(session.number, session.title)}`, body)
    })
  }

  renderCompare (snapshots) {
    const options = (selected) => [
      ...snapshots.map((s) => h('option', { value: s.id, selected: s.id === selected }, t.snapshotOf(s.number, s.label))),
      this.allowLive ? h('option', { value: 'live', selected: selected === 'live' }, t.live) : null,
    ]
    const last = snapshots[snapshots.length - 1]
    const defaultFrom = this.allowLive ? last?.id : snapshots[snapshots.length - 2]?.id
    const defaultTo = this.allowLive ? 'live' : last?.id
    const from = h('select', { id: 'diff-from', name: 'from' }, options(defaultFrom))
    const to = h('select', { id: 'diff-to', name: 'to' }, options(defaultTo))
    const form = h('form', { class: 'compare', 'aria-labelledby': 'compare-heading' },
      h('h3', { id: 'compare-heading' }, t.compare),
      h('label', { for: 'diff-from' }, t.from), from,
      h('label', { for: 'diff-to' }, t.to), to,
      h('button', { type: 'submit' }, t.showDiff))
    form.addEventListener('submit', (event) => {
      event.preventDefault()
      this.diff(from.value, to.value, from.selectedOptions[0].textContent, to.selectedOptions[0].textContent)
    })
    return form
  }

  renderControls () {
    const label = h('input', { id: 'snapshot-label', name: 'label', required: true, maxlength: 500 })
    const stage = h('input', { id: 'snapshot-stage', name: 'stage', required: true, maxlength: 500 })
    stage.value = this.state.stage || ''
    const form = h('form', { class: 'facilitation', 'aria-labelledby': 'facilitation-heading' },
      h('h3', { id: 'facilitation-heading' }, t.facilitation),
      h('label', { for: 'snapshot-label' }, t.snapshotLabel), label,
      h('label', { for: 'snapshot-stage' }, t.snapshotStage), stage,
      h('button', { type: 'submit', 'data-action': 'snapshot' }, t.takeSnapshot))
    form.addEventListener('submit', (event) => {
      event.preventDefault()
      this.run(() => api(`${docPath(this.docId)}/snapshots`, {
        method: 'POST', body: { label: label.value.trim(), stage: stage.value.trim() },
      }))
    })
    const frozen = this.state.frozen
    const freeze = h('button', {
      type: 'button',
      'data-action': frozen ? 'unfreeze' : 'freeze',
      onClick: () => this.run(() => api(`${docPath(this.docId)}/${frozen ? 'unfreeze' : 'freeze'}`, {
        method: 'POST', body: frozen ? undefined : { comments_open: true },
      })),
    }, frozen ? t.unfreeze : t.freeze)
    const adopt = h('button', {
      type: 'button',
      'data-action': 'adopt',
      class: this.confirmingAdoption ? 'danger' : '',
      onClick: () => {
        if (!this.confirmingAdoption) { this.confirmingAdoption = true; this.render(); this.panel.querySelector('[data-action=adopt]').focus(); return }
        this.confirmingAdoption = false
        this.run(() => api(`${docPath(this.docId)}/adopt`, { method: 'POST', body: { comments_open: true } }))
      },
    }, this.confirmingAdoption ? t.confirmAdopt : t.adopt)
    return h('div', { class: 'controls' }, form, h('div', { class: 'actions' }, freeze, adopt))
  }

  async open (snapshot, { focus = true } = {}) {
    const asked = ++this.asked
    await this.run(async () => {
      const html = await api(`${docPath(this.docId)}/snapshots/${encodeURIComponent(snapshot.id)}/content?format=html`, { raw: true })
      const body = h('div', { class: 'prose archived', 'data-snapshot': snapshot.id })
      body.innerHTML = html // rendered and escaped by the server from the stored text
      this.present(asked, `${t.readonlyVersion} · ${t.snapshotOf(snapshot.number, snapshot.label)}`, body, { focus })
    })
  }

  async authors (version, label) {
    const asked = ++this.asked
    await this.run(async () => {
      this.present(asked, t.authorsOf(label), await authorsView(this.docId, version))
    })
  }

  async diff (from, to, fromLabel, toLabel) {
    const asked = ++this.asked
    await this.run(async () => {
      const query = `from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`
      const [summary, html] = await Promise.all([
        api(`${docPath(this.docId)}/diff?${query}`),
        api(`${docPath(this.docId)}/diff?${query}&format=html`, { raw: true }),
      ])
      const applied = summary.amendments || []
      const line = t.diffSummary(summary.summary) + (applied.length ? ` · ${t.diffAmendments(applied.length)}` : '')
      const body = h('div', { class: 'diff-view' }, h('p', { class: 'summary' }, line))
      const blocks = h('div', { class: 'prose' })
      blocks.innerHTML = html // escaped by the server (`crdt.diff.diff_html`)
      // A change an accepted amendment made carries its ids (`crdt.diff_amendments`).
      for (const block of blocks.querySelectorAll('[data-amendments]')) {
        block.prepend(h('span', { class: 'amended-by', title: block.dataset.amendments }, t.byAmendment))
      }
      body.append(blocks)
      this.present(asked, `${fromLabel} → ${toLabel}`, body)
    })
  }

  // Show an answer unless something was asked after it (the page opening the published
  // version for a visitor must not cover the "Authors" they clicked meanwhile).
  present (asked, title, body, options) {
    if (asked === this.asked) this.viewer.show(title, body, options)
  }

  async run (action) {
    try {
      await action()
    } catch (error) {
      this.onError(error)
    }
  }
}
