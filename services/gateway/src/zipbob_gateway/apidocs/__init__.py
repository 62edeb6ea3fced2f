"""The public API document (`/api/openapi.json`) and its browsable page (`/api/docs`)."""
