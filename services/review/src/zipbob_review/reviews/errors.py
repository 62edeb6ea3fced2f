"""What the review use cases refuse, as domain errors; the platform answers each one as
problem+json from the class attributes (``zipbob_platform.problems.DomainError``)."""

from __future__ import annotations

from zipbob_platform.problems import PROBLEM_BASE, DomainError


class _NotFound(DomainError):
    status = 404
    type_ = PROBLEM_BASE + "not-found"
    what = "thing"

    def __init__(self, ident: str) -> None:
        super().__init__(f"{self.what} {ident} not found")
        self.ident = ident


class ProductNotFound(_NotFound):
    what = "product"


class ReviewNotFound(_NotFound):
    what = "review"


class DuplicateReview(DomainError):
    """The author already reviewed this product (the unique index said so)."""

    status = 409
    type_ = PROBLEM_BASE + "conflict"

    def __init__(self) -> None:
        super().__init__("you have already reviewed this product; edit that review instead")


class NotAllowed(DomainError):
    """The caller's role does not permit this."""

    status = 403
    type_ = PROBLEM_BASE + "forbidden"


class NotAuthor(NotAllowed):
    """Only the review's author (or, for deletes, an admin) may change it."""


class InvalidListing(DomainError):
    """A page deeper than offsets serve, or a cursor this listing did not issue."""

    status = 422
    type_ = PROBLEM_BASE + "validation"
