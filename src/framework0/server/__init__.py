"""The context server: a FastAPI app over the shared contexts, with its WebSocket hub and auth."""
