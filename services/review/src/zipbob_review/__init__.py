"""ZipBob review service: reviews and rating summaries per product (SPEC 3, Reviews)."""

__version__ = "0.1.0"
