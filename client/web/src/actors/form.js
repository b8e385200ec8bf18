// The contribution form, for readers who may propose actors (the server says so in the
// page's config, and judges each proposal again): a position by clicking the map or by
// typing coordinates, then PATCH .../data; the actor lands as `proposed` and comes back
// through the event stream (a contributor sees their own proposals).
import L from 'leaflet'
import { h } from '../dom.js'
import { kindLabel } from './labels.js'

const field = (label, control) => h('label', {}, label, control)

// An id for a new actor from its name: "Épicerie Le Grain" → "epicerie-le-grain-k3x9".
function newId (name) {
  const base = String(name).normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase()
    .replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 48).replace(/-+$/, '')
  const suffix = Math.random().toString(36).slice(2, 6).padEnd(4, '0')
  return `${base || 'acteur'}-${suffix}`
}

function tagsOf (text) {
  return [...new Set(text.split(',').map((tag) => tag.trim()).filter(Boolean))]
}

export function proposalForm (side, map, { config, token }) {
  const name = h('input', { name: 'name', required: true, maxlength: 200, autocomplete: 'off' })
  const kind = h('select', { name: 'kind', required: true },
    h('option', { value: '' }, 'Choisir…'),
    ...config.kinds.map((value) => h('option', { value }, kindLabel(value))))
  const description = h('textarea', { name: 'description', rows: 3, maxlength: 5000 })
  const address = h('input', { name: 'address', maxlength: 500 })
  const website = h('input', { name: 'website', type: 'url', maxlength: 500, placeholder: 'https://…' })
  const contact = h('input', { name: 'contact', maxlength: 500 })
  const tags = h('input', { name: 'tags', maxlength: 1300, placeholder: 'bio, vrac' })
  const lat = h('input', { name: 'lat', type: 'number', step: 'any', min: -90, max: 90, required: true })
  const lng = h('input', { name: 'lng', type: 'number', step: 'any', min: -180, max: 180, required: true })
  const status = h('div', { id: 'propose-status', 'aria-live': 'polite' })
  const submit = h('button', { type: 'submit' }, 'Envoyer la proposition')
  const form = h('form', { novalidate: false },
    field('Nom *', name), field('Type *', kind), field('Description', description),
    field('Adresse', address), field('Site web', website), field('Contact', contact),
    field('Étiquettes (séparées par des virgules)', tags),
    h('div', { class: 'meta' }, 'Position * : cliquez sur la carte ou saisissez-la.'),
    h('div', { class: 'coords' }, field('Latitude', lat), field('Longitude', lng)),
    submit, status)
  const panel = h('details', { id: 'propose' },
    h('summary', {}, 'Proposer un acteur'), form)
  side.prepend(panel)

  let draft = null
  function showDraft () {
    const point = [Number(lat.value), Number(lng.value)]
    const valid = lat.value !== '' && lng.value !== '' && point.every(Number.isFinite)
    if (!valid) {
      if (draft) draft.remove()
      draft = null
      return
    }
    if (draft) draft.setLatLng(point)
    else draft = L.circleMarker(point, { radius: 9, color: '#1d2330', dashArray: '3', className: 'draft' }).addTo(map)
  }
  lat.addEventListener('input', showDraft)
  lng.addEventListener('input', showDraft)
  panel.addEventListener('toggle', () => {
    map.getContainer().classList.toggle('picking', panel.open)
    if (!panel.open && draft) { draft.remove(); draft = null }
  })
  map.on('click', (event) => {
    if (!panel.open) return
    lat.value = event.latlng.lat.toFixed(6)
    lng.value = event.latlng.lng.toFixed(6)
    showDraft()
  })

  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    const actor = {
      name: name.value.trim(), kind: kind.value, state: 'proposed',
      position: { type: 'Point', coordinates: [Number(lng.value), Number(lat.value)] },
    }
    for (const [key, input] of [['description', description], ['address', address], ['website', website], ['contact', contact]]) {
      if (input.value.trim()) actor[key] = input.value.trim()
    }
    if (tagsOf(tags.value).length) actor.tags = tagsOf(tags.value)
    status.className = ''
    status.removeAttribute('role')
    status.textContent = 'Envoi…'
    submit.disabled = true
    try {
      const response = await fetch(`/api/documents/${encodeURIComponent(config.id)}/data`, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/merge-patch+json', Authorization: `Bearer ${token}` },
        body: JSON.stringify({ actors: { [newId(actor.name)]: actor } }),
      })
      if (!response.ok) {
        let detail = `${response.status} ${response.statusText}`
        try { detail = (await response.json()).detail || detail } catch {}
        throw new Error(detail)
      }
      status.className = 'done'
      status.textContent = `Merci ! « ${actor.name} » est proposé : il paraîtra sur la carte publique une fois validé.`
      form.reset()
      showDraft()
    } catch (error) {
      status.setAttribute('role', 'alert')
      status.textContent = `Proposition refusée : ${error.message}`
    } finally {
      submit.disabled = false
    }
  })
}
