// The side panel: filters (kind, tag, name) and the list of the actors in the map's view.
import { h, clear } from '../dom.js'
import { folded, kindLabel } from './labels.js'

const LISTED = 300 // Beyond this many actors in view, the list says to zoom in.

export class Panel {
  constructor (side, { onFilter, onPick }) {
    this.filter = { kind: '', tag: '', query: '' }
    this.onPick = onPick
    this.kind = h('select', { id: 'kind', 'aria-label': 'Type d’acteur' })
    this.tag = h('select', { id: 'tag', 'aria-label': 'Étiquette' })
    this.search = h('input', { id: 'search', type: 'search', placeholder: 'Rechercher un nom…', 'aria-label': 'Rechercher un nom', maxlength: 200 })
    const changed = () => {
      this.read()
      onFilter()
    }
    this.kind.addEventListener('change', changed)
    this.tag.addEventListener('change', changed)
    this.search.addEventListener('input', changed)
    this.count = h('div', { id: 'count', class: 'meta', 'aria-live': 'polite' })
    this.list = h('ul', { id: 'list' })
    this.extra = h('div', { id: 'extra' })
    side.append(h('div', { class: 'filters' }, this.search, this.kind, this.tag), this.count, this.list, this.extra)
  }

  // Offer the kinds and tags present in the document (keeping the current choice).
  options (actors) {
    const kinds = new Set()
    const tags = new Set()
    for (const actor of actors) {
      kinds.add(actor.kind)
      for (const tag of Array.isArray(actor.tags) ? actor.tags : []) tags.add(tag)
    }
    fill(this.kind, 'Tous les types', [...kinds].map((kind) => [kind, kindLabel(kind)]))
    fill(this.tag, 'Toutes les étiquettes', [...tags].map((tag) => [tag, tag]))
    this.read() // A chosen kind or tag that no actor has any more is dropped.
  }

  read () {
    this.filter = { kind: this.kind.value, tag: this.tag.value, query: folded(this.search.value) }
  }

  matches (actor) {
    const { kind, tag, query } = this.filter
    if (kind && actor.kind !== kind) return false
    if (tag && !(Array.isArray(actor.tags) && actor.tags.includes(tag))) return false
    return !query || folded(actor.name).includes(query)
  }

  // List `inView` (entries within the map's bounds) out of `total` shown on the map.
  show (inView, total) {
    const sorted = [...inView].sort((a, b) => String(a.actor.name).localeCompare(String(b.actor.name), 'fr'))
    this.count.textContent = `${inView.length} dans la vue, ${total} sur la carte`
    clear(this.list)
    for (const { id, actor } of sorted.slice(0, LISTED)) {
      this.list.append(h('li', { 'data-actor': id, class: actor.state !== 'published' ? 'pending' : null },
        h('button', { type: 'button', onclick: () => this.onPick(id) }, actor.name),
        h('div', { class: 'meta' }, kindLabel(actor.kind))))
    }
    if (sorted.length > LISTED) this.list.append(h('li', { class: 'meta' }, `… et ${sorted.length - LISTED} autres : zoomez`))
  }
}

function fill (select, all, choices) {
  const current = select.value
  choices.sort((a, b) => a[1].localeCompare(b[1], 'fr'))
  clear(select).append(h('option', { value: '' }, all), ...choices.map(([value, label]) => h('option', { value }, label)))
  select.value = choices.some(([value]) => value === current) ? current : ''
}
