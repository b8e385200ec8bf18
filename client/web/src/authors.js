// The "Authors" view: a version's text with each word coloured by who wrote it (from the
// server's provenance record), a legend with each contributor's share, and on hover the
// writer, when and in which session. The public sees pseudonyms, as the server answers.
import { api, docPath } from './api.js'
import { h } from './dom.js'
import { lang, t } from './i18n.js'
import { colourOf } from './session.js'

const when = (seconds) => new Date(seconds * 1000).toLocaleString(lang, { dateStyle: 'short', timeStyle: 'short' })

export function wordTitle (span) {
  const parts = [span.display_name]
  if (span.inserted_from) parts.push(when(span.inserted_from))
  if (span.session) parts.push(t.sessionOf(span.session))
  return parts.join(' · ')
}

export async function authorsView (docId, version) {
  const answer = await api(`${docPath(docId)}/provenance?version=${encodeURIComponent(version)}&words=1`)
  const legend = h('ul', { class: 'authors-legend', 'aria-label': t.authorsLegend },
    answer.contributors.map((c) => h('li', { 'data-author': c.display_name },
      h('span', { class: 'dot', style: `background:${colourOf(c.display_name)}` }),
      `${c.display_name} — ${t.wordsShare(c.words, Math.round(c.share * 100))}`)))
  const text = h('div', { class: 'prose authors-text' })
  for (const paragraph of answer.paragraphs) {
    const block = h(paragraph.type === 'heading' ? 'h3' : 'p', { 'data-block': paragraph.id || '' })
    let at = 0
    for (const span of paragraph.spans || []) {
      if (span.start > at) block.append(paragraph.text.slice(at, span.start))
      block.append(h('span', {
        class: 'authored', 'data-author': span.display_name, title: wordTitle(span),
        style: `background:${colourOf(span.display_name)}40;border-bottom:2px solid ${colourOf(span.display_name)}`,
      }, span.text))
      at = span.end
    }
    if (paragraph.text && at < paragraph.text.length) block.append(paragraph.text.slice(at))
    text.append(block)
  }
  return h('div', { class: 'authors-view' }, legend, text)
}
