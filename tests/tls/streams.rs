//! Long-lived streams through tokengate: a WebSocket upgrade checked like any request and relayed both ways without
//! buffering, and server-sent events delivered event by event.
