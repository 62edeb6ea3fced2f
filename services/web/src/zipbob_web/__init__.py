"""ZipBob web console (SPEC 8): server-rendered pages that use only the public API."""
