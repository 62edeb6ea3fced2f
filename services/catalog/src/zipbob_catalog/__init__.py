"""ZipBob catalog: products, photo uploads and the transactional outbox (SPEC 3-5)."""
