// The vote panel, shown during an open session: the open votes read live from the
// server-authored `amendments` map of `D.annotations` (each amendment's `tally`), ballot
// buttons (for / against / abstain) for members, and the facilitators' controls (put
// submitted amendments to a vote, close it). Every write goes through the HTTP API; the
// server checks every right (only members present in the session vote).
import { api, docPath } from './api.js'
import { clear, h } from './dom.js'
import { lang } from './i18n.js'
import { at as amendStrings, redline } from './amendments.js'
import { canEdit, canModerate } from './session.js'

const CHOICES = ['for', 'against', 'abstain']
const STRINGS = {
  en: {
    votes: 'Votes',
    openVote: 'Vote in progress',
    ballot_public: 'public ballot', ballot_secret: 'secret ballot',
    rule_majority: 'majority of votes cast', rule_two_thirds: 'two-thirds of votes cast',
    choice_for: 'For', choice_against: 'Against', choice_abstain: 'Abstain',
    yourVote: (c) => `Your vote: ${c}`,
    cast: 'Your secret ballot is cast.',
    voters: (n) => `${n} voter${n === 1 ? '' : 's'}`,
    close: 'Close the vote',
    putToVote: 'Put to a vote',
    pickAmendments: 'Submitted amendments',
    ballotKind: 'Ballot', rule: 'Rule',
    noneSubmitted: 'No submitted amendment to put to a vote.',
    result_accepted: 'accepted', result_rejected: 'rejected', result_no_quorum: 'no quorum',
    lastResults: 'Last vote',
  },
  fr: {
    votes: 'Votes',
    openVote: 'Vote en cours',
    ballot_public: 'scrutin public', ballot_secret: 'scrutin secret',
    rule_majority: 'majorité des suffrages exprimés', rule_two_thirds: 'deux tiers des suffrages exprimés',
    choice_for: 'Pour', choice_against: 'Contre', choice_abstain: 'Abstention',
    yourVote: (c) => `Votre vote : ${c}`,
    cast: 'Votre bulletin secret est déposé.',
    voters: (n) => `${n} votant${n > 1 ? 's' : ''}`,
    close: 'Clore le vote',
    putToVote: 'Mettre aux voix',
    pickAmendments: 'Amendements déposés',
    ballotKind: 'Scrutin', rule: 'Règle',
    noneSubmitted: 'Aucun amendement déposé à mettre aux voix.',
    result_accepted: 'adopté', result_rejected: 'rejeté', result_no_quorum: 'quorum non atteint',
    lastResults: 'Dernier vote',
  },
}
const vt = STRINGS[lang]

function plain (entry) {
  return entry && typeof entry.toJSON === 'function' ? entry.toJSON() : entry
}

export class VotePanel {
  constructor ({ docId, user, amendments, session, element, onError }) {
    Object.assign(this, { docId, user, amendments, session, element, onError })
    this.secretCast = new Set() // `${vote}:${amendment}` where this person's secret ballot is cast
    this.asked = new Set() // secret votes whose ballots (who voted, no choice) were read
    this.picked = new Set()
    amendments.observeDeep(() => this.render())
    session.observe(() => this.render())
    this.render()
  }

  get sessionOpen () {
    const open = this.session.get('open')
    return Boolean(open && typeof open === 'object')
  }

  entries () {
    return Array.from(this.amendments.values()).map(plain)
      .filter((entry) => entry && entry.paragraph_id)
      .sort((a, b) => String(a.created_at).localeCompare(String(b.created_at)))
  }

  // The open votes: {id, ballot, rule, items: [amendment]} from the amendments' live tallies.
  openVotes () {
    const votes = new Map()
    for (const entry of this.entries()) {
      const tally = entry.tally
      if (!tally || tally.open !== true || entry.state !== 'evaluating') continue
      if (!votes.has(tally.vote_id)) votes.set(tally.vote_id, { id: tally.vote_id, ballot: tally.ballot, rule: tally.rule, items: [] })
      votes.get(tally.vote_id).items.push(entry)
    }
    return [...votes.values()]
  }

  render () {
    // Keep the facilitator's choices of ballot and rule across live redraws.
    const ballotNow = this.element.querySelector('select[name=ballot]')?.value
    const ruleNow = this.element.querySelector('select[name=rule]')?.value
    const panel = clear(this.element)
    const votes = this.sessionOpen ? this.openVotes() : []
    for (const vote of votes) if (vote.ballot === 'secret' && canEdit(this.user)) this.readSecret(vote.id)
    const submitted = this.entries().filter((entry) => entry.state === 'submitted')
    const facilitating = canModerate(this.user) && this.sessionOpen
    panel.hidden = !votes.length && !facilitating
    panel.dataset.votes = String(votes.length)
    if (panel.hidden) return
    panel.append(h('h2', { id: 'votes-heading' }, vt.votes))
    for (const vote of votes) panel.append(this.renderVote(vote))
    if (facilitating) panel.append(this.openForm(submitted, ballotNow, ruleNow))
  }

  // A secret ballot cannot be changed: after a reload, ask the server whether one was cast.
  async readSecret (voteId) {
    if (this.asked.has(voteId)) return
    this.asked.add(voteId)
    try {
      const { ballots } = await api(`${docPath(this.docId)}/votes/${encodeURIComponent(voteId)}`)
      const before = this.secretCast.size
      for (const ballot of ballots || []) if (ballot.sub === this.user.sub) this.secretCast.add(`${voteId}:${ballot.amendment_id}`)
      if (this.secretCast.size !== before) this.render()
    } catch (error) {
      this.asked.delete(voteId)
      this.onError(error)
    }
  }

  renderVote (vote) {
    const path = `${docPath(this.docId)}/votes/${encodeURIComponent(vote.id)}`
    const box = h('div', { class: 'vote', 'data-vote': vote.id, 'data-ballot': vote.ballot },
      h('h3', {}, vt.openVote, h('small', {}, ` · ${vt[`ballot_${vote.ballot}`] || vote.ballot} · ${vt[`rule_${vote.rule}`] || vote.rule}`)))
    const list = h('ol', { class: 'vote-items' })
    for (const entry of vote.items) {
      const tally = entry.tally
      const mine = (tally.ballots || []).find((b) => b.sub === this.user.sub)?.choice
      const secretDone = vote.ballot === 'secret' && this.secretCast.has(`${vote.id}:${entry.id}`)
      const item = h('li', { class: 'vote-item', 'data-amendment': entry.id },
        h('p', { class: 'change' }, entry.kind === 'replace' ? redline(entry.base, entry.text)
          : entry.kind === 'insert_after' ? h('ins', {}, entry.text) : h('del', {}, entry.base)),
        h('p', { class: 'tally' }, amendStrings.tally(tally), ' · ', vt.voters(tally.voters || 0)))
      if (canEdit(this.user)) {
        const buttons = h('div', { class: 'actions ballot' })
        for (const choice of CHOICES) {
          buttons.append(h('button', {
            type: 'button', 'data-choice': choice, 'aria-pressed': String(mine === choice),
            disabled: secretDone,
            onClick: () => this.run(async () => {
              await api(`${path}/ballots`, { method: 'POST', body: { amendment_id: entry.id, choice } })
              if (vote.ballot === 'secret') { this.secretCast.add(`${vote.id}:${entry.id}`); this.render() }
            }),
          }, vt[`choice_${choice}`]))
        }
        item.append(buttons)
        if (mine) item.append(h('p', { class: 'mine' }, vt.yourVote(vt[`choice_${mine}`])))
        if (secretDone) item.append(h('p', { class: 'mine' }, vt.cast))
      }
      list.append(item)
    }
    box.append(list)
    if (canModerate(this.user)) {
      box.append(h('div', { class: 'actions' }, h('button', {
        type: 'button', 'data-action': 'close-vote', onClick: () => this.run(() => api(`${path}/close`, { method: 'POST' })),
      }, vt.close)))
    }
    return box
  }

  openForm (submitted, ballotNow, ruleNow) {
    const form = h('form', { class: 'open-vote' }, h('h3', {}, vt.putToVote))
    for (const id of [...this.picked]) if (!submitted.some((entry) => entry.id === id)) this.picked.delete(id)
    if (!submitted.length) {
      form.append(h('p', { class: 'hint' }, vt.noneSubmitted))
      return form
    }
    const list = h('ul', { class: 'vote-candidates', 'aria-label': vt.pickAmendments })
    for (const entry of submitted) {
      const box = h('input', { type: 'checkbox', name: 'amendment', value: entry.id, id: `vote-pick-${entry.id}` })
      box.checked = this.picked.has(entry.id)
      box.addEventListener('change', () => { if (box.checked) this.picked.add(entry.id); else this.picked.delete(entry.id) })
      list.append(h('li', {}, box, h('label', { for: `vote-pick-${entry.id}` },
        h('strong', {}, entry.author?.name || '?'), ' : ',
        entry.kind === 'replace' ? redline(entry.base, entry.text) : entry.kind === 'insert_after' ? h('ins', {}, entry.text) : h('del', {}, entry.base))))
    }
    const ballot = h('select', { name: 'ballot', id: 'vote-ballot' }, ['public', 'secret'].map((b) => h('option', { value: b }, vt[`ballot_${b}`])))
    const rule = h('select', { name: 'rule', id: 'vote-rule' }, ['majority', 'two_thirds'].map((r) => h('option', { value: r }, vt[`rule_${r}`])))
    if (ballotNow) ballot.value = ballotNow
    if (ruleNow) rule.value = ruleNow
    form.append(list,
      h('div', { class: 'actions' },
        h('label', { for: 'vote-ballot' }, vt.ballotKind), ballot,
        h('label', { for: 'vote-rule' }, vt.rule), rule,
        h('button', { type: 'submit', 'data-action': 'open-vote' }, vt.putToVote)))
    form.addEventListener('submit', (event) => {
      event.preventDefault()
      const ids = [...this.picked]
      if (!ids.length) return
      this.run(async () => {
        await api(`${docPath(this.docId)}/votes`, { method: 'POST', body: { amendment_ids: ids, ballot: ballot.value, rule: rule.value } })
        this.picked.clear()
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
