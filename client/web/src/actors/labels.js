// French labels of the actors schema's values (the embed speaks French, like the others).
const KINDS = {
  producer: 'Producteur',
  farm: 'Ferme',
  market: 'Marché',
  shop: 'Commerce',
  cooperative: 'Coopérative',
  association: 'Association',
  canteen: 'Restauration collective',
  restaurant: 'Restaurant',
  food_bank: 'Aide alimentaire',
  garden: 'Jardin',
  processor: 'Transformateur',
  distributor: 'Distributeur',
  other: 'Autre',
}

const STATES = {
  proposed: 'Proposé : en attente de validation',
  rejected: 'Refusé',
  published: 'Publié',
}

export const kindLabel = (kind) => KINDS[kind] || String(kind)
export const stateLabel = (state) => STATES[state] || String(state)

// A CSS class name part for a schema value (kinds and states are plain words already).
export const cssName = (value) => String(value).replace(/[^a-z0-9_-]/gi, '')

// Lower case, accents removed: "Épicerie" is found by "epic".
export const folded = (text) =>
  String(text || '').normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase().trim()
