"""The HTTP API: an aiohttp application over `emergency.service.AidService`.

`api.app.create_app(settings)` builds it; `emergency serve` runs it.
"""
