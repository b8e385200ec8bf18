"""The palabre server: WebSocket hub, HTTP API and command line."""
