// The actors as clustered Leaflet markers, one per actor with a position, each with a popup.
// Markers are kept per actor and replaced only when the actor changes, so a live update
// leaves the others (and an open popup) alone.
import L from 'leaflet'
import 'leaflet.markercluster'
import { h } from '../dom.js'
import { cssName, kindLabel, stateLabel } from './labels.js'

export function latLngOf (actor) {
  const coordinates = actor && actor.position && actor.position.coordinates
  if (!Array.isArray(coordinates) || coordinates.length !== 2) return null
  const [lng, lat] = coordinates.map(Number)
  if (!Number.isFinite(lat) || !Number.isFinite(lng)) return null
  return L.latLng(lat, lng)
}

function popup (id, actor) {
  const tags = Array.isArray(actor.tags) ? actor.tags : []
  const by = actor.contributed_by && actor.contributed_by.name
  return h('div', { class: 'actor-popup', 'data-actor': id },
    h('strong', { class: 'name' }, actor.name),
    h('div', { class: 'meta' }, kindLabel(actor.kind)),
    actor.state !== 'published' ? h('div', { class: 'pending' }, stateLabel(actor.state)) : null,
    actor.description ? h('p', {}, actor.description) : null,
    actor.address ? h('div', { class: 'address' }, actor.address) : null,
    actor.contact ? h('div', {}, actor.contact) : null,
    actor.website
      ? h('div', {}, h('a', { href: actor.website, target: '_blank', rel: 'noopener noreferrer' }, actor.website))
      : null,
    tags.length ? h('div', { class: 'tags' }, tags.map((tag) => h('span', { class: 'tag' }, tag))) : null,
    by ? h('div', { class: 'meta' }, `Proposé par ${by}`) : null)
}

export class ActorLayer {
  constructor (map) {
    this.map = map
    this.cluster = L.markerClusterGroup({ showCoverageOnHover: false, maxClusterRadius: 60 })
    map.addLayer(this.cluster)
    this.entries = new Map() // id → {id, key, actor, marker}
    this.shown = new Set() // markers in the cluster group
    this.openId = null
  }

  // Follow the document's actors: new and changed ones get a fresh marker.
  update (actors) {
    for (const id of [...this.entries.keys()]) {
      if (!Object.hasOwn(actors, id)) this.entries.delete(id)
    }
    for (const [id, actor] of Object.entries(actors)) {
      const point = latLngOf(actor)
      if (point === null) {
        this.entries.delete(id)
        continue
      }
      const key = JSON.stringify(actor)
      if (this.entries.get(id)?.key === key) continue
      this.entries.set(id, { id, key, actor, marker: this.markerFor(id, actor, point) })
    }
  }

  markerFor (id, actor, point) {
    const icon = L.divIcon({
      className: `actor-marker kind-${cssName(actor.kind)} state-${cssName(actor.state)}`,
      iconSize: [16, 16], iconAnchor: [8, 8], popupAnchor: [0, -8], html: '',
    })
    const marker = L.marker(point, { icon, title: actor.name, alt: actor.name, keyboard: true })
    marker.bindPopup(() => popup(id, actor), { maxWidth: 300 })
    marker.on('add', () => { marker.getElement().dataset.actor = id })
    marker.on('popupopen', () => { this.openId = id })
    marker.on('popupclose', () => { if (this.openId === id) this.openId = null })
    return marker
  }

  // Show exactly the actors of `entries` (a filtered list of this layer's entries).
  show (entries) {
    const reopen = this.openId
    const wanted = new Set(entries.map((entry) => entry.marker))
    const gone = [...this.shown].filter((marker) => !wanted.has(marker))
    const added = [...wanted].filter((marker) => !this.shown.has(marker))
    this.cluster.removeLayers(gone)
    this.cluster.addLayers(added)
    this.shown = wanted
    const again = reopen && this.entries.get(reopen)
    if (again && wanted.has(again.marker) && this.map.hasLayer(again.marker)) again.marker.openPopup()
  }

  // Zoom to an actor (out of its cluster) and open its popup.
  reveal (id) {
    const entry = this.entries.get(id)
    if (!entry || !this.shown.has(entry.marker)) return
    this.cluster.zoomToShowLayer(entry.marker, () => entry.marker.openPopup())
  }
}
