// The live actors map embed (/embed/{id} of an `actors` document): Leaflet with clustered
// markers, filters, a side list following the map, and the contribution form for those
// who may propose actors. It follows the document's event stream: what the server sends
// is this reader's view (the public sees published actors only).
import L from 'leaflet'
import { proposalForm } from './form.js'
import { ActorLayer } from './layer.js'
import { Panel } from './panel.js'

const FRANCE = [[42.3, -4.8], [51.1, 8.2]]

const config = JSON.parse(document.body.dataset.config)
const token = new URLSearchParams(location.search).get('token')
const mapElement = document.getElementById('map')
const state = document.getElementById('state')

const map = L.map(mapElement, { zoomSnap: 1 })
map.fitBounds(FRANCE)
if (config.tiles) {
  // Unreachable tiles leave the plain background: markers and the scale still show.
  L.tileLayer(config.tiles, { attribution: config.attribution, maxZoom: 19 }).addTo(map)
}
L.control.scale({ imperial: false }).addTo(map)

const layer = new ActorLayer(map)
const panel = new Panel(document.getElementById('side'), { onFilter: draw, onPick: (id) => layer.reveal(id) })
let fitted = false
if (config.may_propose && token) proposalForm(document.getElementById('side'), map, { config, token })

function shownEntries () {
  return [...layer.entries.values()].filter((entry) => panel.matches(entry.actor))
}

function listView () {
  const bounds = map.getBounds()
  const shown = [...layer.shown]
  const entries = [...layer.entries.values()].filter((entry) => layer.shown.has(entry.marker))
  panel.show(entries.filter((entry) => bounds.contains(entry.marker.getLatLng())), shown.length)
  mapElement.dataset.zoom = String(map.getZoom())
}

function draw () {
  const entries = shownEntries()
  layer.show(entries)
  if (!fitted && entries.length) {
    fitted = true
    map.fitBounds(L.latLngBounds(entries.map((entry) => entry.marker.getLatLng())), { padding: [30, 30], maxZoom: 15, animate: false })
  }
  listView()
  document.body.dataset.version = String(Number(document.body.dataset.version || 0) + 1)
}

map.on('moveend zoomend', listView)

function receive (data) {
  document.getElementById('title').textContent = data.title || ''
  const actors = data.actors && typeof data.actors === 'object' ? data.actors : {}
  layer.update(actors)
  panel.options([...layer.entries.values()].map((entry) => entry.actor))
  draw()
}

const suffix = token ? `?token=${encodeURIComponent(token)}` : ''
const source = new EventSource(`/api/documents/${encodeURIComponent(config.id)}/data/events${suffix}`)
source.addEventListener('data', (event) => {
  receive(JSON.parse(event.data))
  state.textContent = 'en direct'
})
source.addEventListener('end', (event) => {
  state.textContent = `fin du direct : ${JSON.parse(event.data).reason}`
  source.close()
})
source.addEventListener('error', () => {
  if (source.readyState !== EventSource.CLOSED) state.textContent = 'reconnexion…'
})
