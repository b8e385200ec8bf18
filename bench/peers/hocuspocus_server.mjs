// @hocuspocus/server with its default in-memory set-up: `new Server({port})`.
// Usage: node peers/hocuspocus_server.mjs PORT
import { Server } from '@hocuspocus/server'

const port = Number(process.argv[2])
const server = new Server({ port, address: '127.0.0.1', quiet: true })
await server.listen()
console.log(`hocuspocus listening on ws://127.0.0.1:${port}`)
