// The session bar: the open session (title, kind, elapsed time, who is present), the
// speaking queue live from the server-authored `session` map of `{doc}.annotations`, a
// raise-hand button for members and the facilitators' controls. Every write goes through
// the API; the server checks every right.
import { api, docPath } from './api.js'
import { clear, h } from './dom.js'
import { t } from './i18n.js'
import { canEdit, canModerate } from './session.js'

const KINDS = ['work', 'hearing', 'training', 'adoption']

export class SessionBar {
  constructor ({ docId, user, live, element, onError }) {
    this.docId = docId
    this.user = user
    this.live = live // the `session` Y.Map
    this.element = element
    this.onError = onError
    this.present = []
    this.timer = setInterval(() => this.tick(), 1000)
    this.poll = setInterval(() => this.loadPresent(), 5000)
    live.observe(() => { this.render(); this.loadPresent() })
    this.render()
    this.loadPresent()
  }

  get open () {
    const open = this.live.get('open')
    return open && typeof open === 'object' ? open : null
  }

  path (suffix = '') {
    return `${docPath(this.docId)}/sessions/${this.open.number}${suffix}`
  }

  async loadPresent () {
    if (!this.open) { this.present = []; return }
    try {
      const state = await api(this.path())
      this.present = state.present || []
      this.renderPresent()
    } catch (error) {
      this.onError(error)
    }
  }

  tick () {
    const clock = this.element.querySelector('.elapsed')
    if (clock && this.open) clock.textContent = elapsed(this.open.opened_at)
  }

  render () {
    const bar = clear(this.element)
    const open = this.open
    bar.dataset.state = open ? 'open' : 'closed'
    if (!open) {
      bar.append(h('span', { class: 'session-title' }, t.noSession))
      if (canModerate(this.user)) bar.append(this.openForm())
      return
    }
    const hands = this.live.get('hands') || []
    const floor = this.live.get('floor')
    const mine = hands.some((hand) => hand.sub === this.user.sub)
    bar.append(
      h('span', { class: 'session-title' }, t.sessionNamed(open.number, open.title),
        h('small', {}, ` · ${t[`kind_${open.kind}`] || open.kind} · `), h('span', { class: 'elapsed' }, elapsed(open.opened_at))),
      h('span', { class: 'present', 'aria-label': t.present }),
      h('span', { class: 'floor', 'data-sub': floor ? floor.sub : '' }, floor ? t.hasFloor(floor.name) : t.nobodyHasFloor),
      h('ol', { class: 'hands', 'aria-label': t.hands },
        hands.map((hand, index) => h('li', { 'data-sub': hand.sub }, `${index + 1}. ${hand.name}`,
          canModerate(this.user) ? h('button', { type: 'button', class: 'link', 'data-action': 'give-floor', onClick: () => this.run(() => api(this.path('/floor'), { method: 'POST', body: { sub: hand.sub } })) }, t.giveFloor) : null))))
    if (canEdit(this.user)) {
      bar.append(h('button', {
        type: 'button', 'data-action': mine ? 'lower-hand' : 'raise-hand', 'aria-pressed': String(mine),
        onClick: () => this.run(() => api(this.path('/hands'), { method: mine ? 'DELETE' : 'POST' })),
      }, mine ? t.lowerHand : t.raiseHand))
    }
    if (canModerate(this.user)) {
      bar.append(
        h('button', { type: 'button', 'data-action': 'next-speaker', disabled: !hands.length, onClick: () => this.run(() => api(this.path('/floor'), { method: 'POST', body: {} })) }, t.nextSpeaker),
        h('button', { type: 'button', 'data-action': 'clear-queue', onClick: () => this.run(() => api(this.path('/floor'), { method: 'POST', body: { clear: true } })) }, t.clearQueue),
        h('button', { type: 'button', 'data-action': 'close-session', class: 'danger', onClick: () => this.run(() => api(this.path('/close'), { method: 'POST' })) }, t.closeSession))
    }
    this.renderPresent()
  }

  renderPresent () {
    const box = this.element.querySelector('.present')
    if (!box) return
    clear(box).append(t.presentCount(this.present.length), ' ',
      h('span', { class: 'names' }, this.present.map((p) => p.name).join(', ')))
  }

  openForm () {
    const title = h('input', { id: 'session-title', name: 'title', required: true, maxlength: 500, placeholder: t.sessionTitle })
    const kind = h('select', { id: 'session-kind', name: 'kind' }, KINDS.map((k) => h('option', { value: k }, t[`kind_${k}`])))
    const form = h('form', { class: 'open-session' },
      h('label', { for: 'session-title', class: 'visually-hidden' }, t.sessionTitle), title,
      h('label', { for: 'session-kind', class: 'visually-hidden' }, t.sessionKind), kind,
      h('button', { type: 'submit', 'data-action': 'open-session' }, t.openSession))
    form.addEventListener('submit', (event) => {
      event.preventDefault()
      this.run(() => api(`${docPath(this.docId)}/sessions`, { method: 'POST', body: { title: title.value.trim(), kind: kind.value } }))
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

function elapsed (since) {
  const seconds = Math.max(0, Math.floor(Date.now() / 1000 - since))
  const hours = Math.floor(seconds / 3600)
  const minutes = String(Math.floor(seconds / 60) % 60).padStart(2, '0')
  return `${hours ? `${hours}:` : ''}${minutes}:${String(seconds % 60).padStart(2, '0')}`
}
