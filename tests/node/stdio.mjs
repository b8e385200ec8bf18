// The stdio line protocol both Node peers (peer.mjs, hocuspocus-peer.mjs) speak.
//
// stdout carries protocol lines only: importing this module sends library logging
// (console.log, console.info) to stderr.

console.log = console.error
console.info = console.error

/** Write one protocol line (a reply or an event) to stdout. */
export const write = (message) => process.stdout.write(JSON.stringify(message) + '\n')

/** Report an event line `{"event": NAME, ...fields}`. */
export const emit = (event, fields = {}) => write({ event, ...fields })

/** Names of the other clients' awareness states, sorted (states without a name skipped). */
export const remoteNames = ({ doc, provider }) => {
  const names = []
  for (const [clientId, state] of provider.awareness.getStates()) {
    if (clientId !== doc.clientID && state.user && typeof state.user.name === 'string') {
      names.push(state.user.name)
    }
  }
  return names.sort()
}
